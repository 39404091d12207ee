"""ATen's CPU recurrent layer (``FullLayer``) rebuilt in Python, for the CPU-planned step on meta.

``at::gru``, ``at::rnn_tanh``, ``at::rnn_relu`` and an LSTM that oneDNN does not take (oneDNN off,
projections) run ``FullLayer`` / ``FullBidirectionalLayer`` (aten/src/ATen/native/RNN.cpp). When the
input is a CPU tensor these project the whole input sequence at once (``linear_ih`` over
``T·N·I``, a ``T·N·gates·H`` tensor held for the whole layer, and its gradient stacked whole in
backward) and feed the cell the pre-computed rows; on any other device, meta included, they project
step by step. A meta step planned for the CPU would miss that tensor, so while it runs ``_VF.gru``,
``_VF.rnn_tanh``, ``_VF.rnn_relu`` and ``_VF.lstm`` (padded input, not packed) are routed to this
rebuild of the CPU branch: the same ATen ops in the same order, with the same lifetimes.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ...ir import ops
from .kernels import routed_vf

_Hidden = Any  # a tensor, or (h, c) for the LSTM


class _Params:
    """``CellParams``: one layer and direction's weights (``w_hr``: the LSTM's projection)."""

    def __init__(self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor | None,
                 b_hh: torch.Tensor | None, w_hr: torch.Tensor | None = None) -> None:
        self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.w_hr = w_ih, w_hh, b_ih, b_hh, w_hr

    def linear_ih(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.w_ih, self.b_ih)

    def linear_hh(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.w_hh, self.b_hh)

    def matmul_hr(self, h: torch.Tensor) -> torch.Tensor:
        return torch.matmul(h, self.w_hr.t()) if self.w_hr is not None else h


def _gather(flat: Sequence[torch.Tensor], has_biases: bool, has_projections: bool) -> list[_Params]:
    """``gather_params``: the flat weight list cut into one ``_Params`` per layer and direction."""
    stride = (4 if has_biases else 2) + (1 if has_projections else 0)
    out = []
    for i in range(0, len(flat), stride):
        w = flat[i:i + stride]
        if has_biases:
            out.append(_Params(w[0], w[1], w[2], w[3], w[4] if has_projections else None))
        else:
            out.append(_Params(w[0], w[1], None, None, w[2] if has_projections else None))
    return out


# -- cells (the non-CUDA branches, with the input already projected) ----------------------------

def _gru_cell(x: torch.Tensor, hidden: torch.Tensor, p: _Params) -> torch.Tensor:
    igates = x.unsafe_chunk(3, 1)
    hgates = p.linear_hh(hidden).unsafe_chunk(3, 1)
    reset_gate = hgates[0].add_(igates[0]).sigmoid_()
    input_gate = hgates[1].add_(igates[1]).sigmoid_()
    new_gate = igates[2].add(hgates[2].mul_(reset_gate)).tanh_()
    return (hidden - new_gate).mul_(input_gate).add_(new_gate)


def _simple_cell(nonlinearity: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def cell(x: torch.Tensor, hidden: torch.Tensor, p: _Params) -> torch.Tensor:
        return nonlinearity(p.linear_hh(hidden).add_(x))
    return cell


def _lstm_cell(x: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor], p: _Params) -> tuple[torch.Tensor, torch.Tensor]:
    hx, cx = hidden
    gates = p.linear_hh(hx).add_(x)
    chunked = gates.unsafe_chunk(4, 1)
    ingate = chunked[0].sigmoid_()
    forgetgate = chunked[1].sigmoid_()
    cellgate = chunked[2].tanh_()
    outgate = chunked[3].sigmoid_()
    cy = (forgetgate * cx).add_(ingate * cellgate)
    hy = outgate * cy.tanh()
    return p.matmul_hr(hy), cy


def _output(hidden: _Hidden) -> torch.Tensor:
    return hidden[0] if isinstance(hidden, tuple) else hidden


# -- layers ------------------------------------------------------------------------------------

def _steps(cell: Callable, step_inputs: Sequence[torch.Tensor], hidden: _Hidden,
           p: _Params) -> tuple[list[torch.Tensor], _Hidden]:
    outputs = []
    for x in step_inputs:
        hidden = cell(x, hidden, p)
        outputs.append(_output(hidden))
    return outputs, hidden


def _full_layer(cell: Callable, inputs: torch.Tensor, hidden: _Hidden, p: _Params) -> tuple[torch.Tensor, _Hidden]:
    inputs_w = p.linear_ih(inputs)  # the whole sequence at once, held until the layer returns
    outputs, final = _steps(cell, inputs_w.unbind(0), hidden, p)
    return torch.stack(outputs, 0), final


def _bidirectional_layer(cell: Callable, inputs: torch.Tensor, hidden: tuple[_Hidden, _Hidden],
                         p: tuple[_Params, _Params]) -> tuple[torch.Tensor, tuple[_Hidden, _Hidden]]:
    input_w = p[0].linear_ih(inputs)
    step_inputs = input_w.unbind(0)
    fw_outputs, fw_final = _steps(cell, step_inputs, hidden[0], p[0])
    fw_output = torch.stack(fw_outputs, 0)
    input_w = p[1].linear_ih(inputs)
    step_inputs = input_w.unbind(0)
    rev_outputs, rev_final = _steps(cell, step_inputs[::-1], hidden[1], p[1])
    rev_outputs.reverse()
    rev_output = torch.stack(rev_outputs, 0)
    return torch.cat([fw_output, rev_output], fw_output.dim() - 1), (fw_final, rev_final)


def _stack(cell: Callable, inputs: torch.Tensor, hiddens: list[_Hidden], params: list[_Params], num_layers: int,
           dropout_p: float, train: bool, bidirectional: bool) -> tuple[torch.Tensor, list[_Hidden]]:
    """``_rnn_impl`` + ``apply_layer_stack``: layers in turn, dropout between them, final states per layer."""
    finals: list[_Hidden] = []
    layer_input = inputs
    for layer in range(num_layers):
        if bidirectional:
            pair_p = (params[2 * layer], params[2 * layer + 1])
            pair_h = (hiddens[2 * layer], hiddens[2 * layer + 1])
            layer_input, final = _bidirectional_layer(cell, layer_input, pair_h, pair_p)
            finals.extend(final)
        else:
            layer_input, final = _full_layer(cell, layer_input, hiddens[layer], params[layer])
            finals.append(final)
        if dropout_p != 0 and train and layer < num_layers - 1:
            layer_input = torch.dropout(layer_input, dropout_p, True)
    return layer_input, finals


def _one_hidden_rnn(cell: Callable, input: torch.Tensor, hx: torch.Tensor, flat: Sequence[torch.Tensor],
                    has_biases: bool, num_layers: int, dropout_p: float, train: bool, bidirectional: bool,
                    batch_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """ATen's ``ONE_HIDDEN_RNN`` (padded input) with the CPU ``FullLayer``."""
    x = input.transpose(0, 1) if batch_first else input
    output, finals = _stack(cell, x, list(hx.unbind(0)), _gather(flat, has_biases, False), num_layers,
                            dropout_p, train, bidirectional)
    hy = torch.stack(finals, 0)
    return (output.transpose(0, 1) if batch_first else output), hy


# One function per name of ``ops.FULL_LAYER_RECURRENT``, with ``torch._VF``'s signature (padded input).

def gru(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _one_hidden_rnn(_gru_cell, *args)


def rnn_tanh(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _one_hidden_rnn(_simple_cell(torch.tanh), *args)


def rnn_relu(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _one_hidden_rnn(_simple_cell(torch.relu), *args)


def lstm(input: torch.Tensor, hx: Sequence[torch.Tensor], flat: Sequence[torch.Tensor], has_biases: bool,
         num_layers: int, dropout_p: float, train: bool, bidirectional: bool,
         batch_first: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``at::lstm`` past its oneDNN branch (``_lstm_impl``) with the CPU ``FullLayer``."""
    has_projections = hx[0].shape[2] != hx[1].shape[2]
    x = input.transpose(0, 1) if batch_first else input
    hiddens = list(zip(hx[0].unbind(0), hx[1].unbind(0)))
    output, finals = _stack(_lstm_cell, x, hiddens, _gather(flat, has_biases, has_projections), num_layers,
                            dropout_p, train, bidirectional)
    hy = torch.stack([h for h, _ in finals], 0)
    cy = torch.stack([c for _, c in finals], 0)
    return (output.transpose(0, 1) if batch_first else output), hy, cy


def _padded_on_meta(args: tuple, kwargs: dict) -> bool:
    """The padded-input overload (``input, hx, params, has_biases, ...``; packed is ``input,
    batch_sizes, hx, params, has_biases, ...``) on a non-empty meta input."""
    if kwargs or len(args) != 9 or not isinstance(args[2], (list, tuple)) or not isinstance(args[3], bool):
        return False
    input = args[0]
    return isinstance(input, torch.Tensor) and input.device.type == "meta" and input.numel() != 0


@contextlib.contextmanager
def cpu_full_layer(device: str) -> Iterator[None]:
    """Route ``_VF``'s recurrent functions to the CPU ``FullLayer`` on meta while the step is planned
    for ``device`` = cpu; enter it outside ``onednn_lstm``, which takes the LSTMs oneDNN would."""
    if not device.startswith("cpu"):
        yield
        return
    def routed(name: str) -> Callable[..., Any]:
        original, rebuilt = getattr(torch._VF, name), globals()[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            if _padded_on_meta(args, kwargs):
                return rebuilt(*args)
            return original(*args, **kwargs)
        return call

    with routed_vf({name: routed(name) for name in ops.FULL_LAYER_RECURRENT}):
        yield


__all__ = ["cpu_full_layer"]  # and one rebuild per name of ops.FULL_LAYER_RECURRENT
