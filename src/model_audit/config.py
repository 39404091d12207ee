"""``[tool.model-audit]`` in pyproject.toml, found from a directory upward (like ruff and pytest).

This module only finds and parses the table; each consumer (rule selection, budgets, the
``check`` command) interprets its own keys, so precedence stays CLI > pyproject > defaults in one
place per feature. Keys are kebab-case; ``max_params`` is accepted as ``max-params``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AuditError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib


class ConfigError(AuditError):
    """pyproject.toml is unreadable or ``[tool.model-audit]`` holds a bad value (exit code 2)."""


@dataclass
class ProjectConfig:
    """The ``[tool.model-audit]`` table (keys normalized to kebab-case) and where it came from."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the pyproject.toml it was read from; None when there was none

    @property
    def root(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def where(self, key: str) -> str:
        """'pyproject.toml [tool.model-audit] KEY' for error messages."""
        return f"{self.path or 'pyproject.toml'} [tool.model-audit] {key}"


def _kebab(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).replace("_", "-"): _kebab(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kebab(v) for v in value]
    return value


def find_pyproject(start: str | Path | None = None) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` (default: the current directory)."""
    here = Path(start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: str | Path | None = None, path: str | Path | None = None) -> ProjectConfig:
    """Read ``[tool.model-audit]`` from ``path`` or the nearest pyproject.toml above ``start``.

    A pyproject.toml without the table yields an empty config (it is someone else's project file);
    a malformed one is an error, never silently ignored.
    """
    found = Path(path) if path else find_pyproject(start)
    if found is None:
        return ProjectConfig()
    try:
        with open(found, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read {found}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{found} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{found} is not UTF-8 text (byte {error.start}); TOML files must be UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{found} nests too deeply to read") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{found}: [tool] must be a table")
    table = tool.get("model-audit", tool.get("model_audit", {}))
    if not isinstance(table, dict):
        raise ConfigError(f"{found}: [tool.model-audit] must be a table")
    from .config_keys import check_keys

    check_keys(_kebab(table), found)  # a typo must not make a budget vanish
    return ProjectConfig(data=_kebab(table), path=found)
