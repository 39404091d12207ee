"""Human units: parsing budgets and formatting counts."""
import pytest

from model_audit.units import format_count, parse_count


@pytest.mark.parametrize("text,expected", [
    ("25M", 25_000_000), ("4.1G", 4_100_000_000), ("1.5e9", 1_500_000_000), ("300k", 300_000),
    ("7B", 7_000_000_000), ("2T", 2_000_000_000_000), (123, 123), ("  42 ", 42),
])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("bad", ["", "M", "4.1X", "-3", "1,000", True])
def test_parse_count_rejects(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


@pytest.mark.parametrize("value,text", [(25_557_032, "25.56M"), (4_089_184_256, "4.09G"), (999, "999"),
                                        (1_500, "1.50K"), (None, "-")])
def test_format_count(value, text):
    assert format_count(value) == text


def test_round_trip_within_precision():
    for value in (1234, 5_678_901, 98_765_432_100):
        assert abs(parse_count(format_count(value, precision=6)) - value) <= value * 1e-6
