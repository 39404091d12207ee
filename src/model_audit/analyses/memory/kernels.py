"""Run fused kernels on meta where a real device would: what a backend saves for backward differs.

Attention. On meta, ``F.scaled_dot_product_attention`` cannot ask a backend which kernel to use and
falls back to the math path, which materializes and saves the (B, H, L, L) attention probabilities.
On CPU (``_scaled_dot_product_flash_attention_for_cpu``) and on CUDA (flash / memory-efficient
attention) the fused kernels save only the output and a (B, H, L) log-sum-exp. For the step, the
function is routed to the fused CPU flash kernel (it has a meta kernel and its own backward)
whenever the real backends would accept the call: 4-D inputs of one head size, no dropout, no
grouped-query broadcast. Anything else keeps the original function.

LSTM on CPU. ``at::lstm`` (aten/src/ATen/native/RNN.cpp) sends an LSTM to oneDNN when
``use_mkldnn`` holds: oneDNN built and enabled (``torch.backends.mkldnn``), CPU tensors, float32
input (bfloat16 / float16 only where the CPU supports them), no projections, a padded (not packed)
sequence. ``mkldnn_rnn`` then runs one ``aten.mkldnn_rnn_layer`` per layer and direction, and each
call saves a oneDNN *workspace* for backward (gates, states and state gradients of every time
step, page-aligned). On meta ``use_mkldnn`` is false and the LSTM decomposes into per-timestep
ops, which saves something else. When the step is planned for the CPU, ``_VF.lstm`` is routed to
the same layer-by-layer kernels on meta, and the workspace, whose meta kernel is empty, is given
the size oneDNN computes (``onednn_lstm_workspace_bytes``). GRU and vanilla RNN never take oneDNN
in ATen (only ``lstm_mkldnn_stub`` is registered): they, and an LSTM oneDNN does not take, run
ATen's CPU ``FullLayer`` on meta instead (``full_layer.py``).

Dropout on CUDA. ``at::dropout`` (aten/src/ATen/native/Dropout.cpp) takes the fused
``native_dropout`` kernel when ``is_fused_kernel_acceptable``: a CUDA (XPU, lazy) tensor, training,
``0 < p < 1``, not empty; it saves a bool mask (1 byte per element). Anywhere else, meta included,
dropout multiplies by a noise tensor of the input's dtype and saves that (4 bytes per element in
float32): 3 bytes per element too many for a CUDA step (GPT-2 4x256: about 160 MiB). When the step
is planned for CUDA, out-of-place dropout is routed to ``native_dropout`` under the same conditions;
in-place dropout (``dropout_``) keeps the noise path on CUDA too.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from .amp import current

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default
_rnn_layer = torch.ops.aten.mkldnn_rnn_layer.default
_rnn_layer_backward = torch.ops.aten.mkldnn_rnn_layer_backward.default
_LSTM_MODE = 2  # ideep::rnn_kind::LSTM, the ``mode`` argument of mkldnn_rnn_layer
_PAGE = 4096  # oneDNN page-aligns every part of an RNN workspace (cpu/rnn/rnn_utils.cpp, set_offsets)


@contextlib.contextmanager
def fused_attention() -> Iterator[None]:
    """Patch ``torch.nn.functional.scaled_dot_product_attention`` for the duration of the step."""
    original = F.scaled_dot_product_attention

    def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: Any = None,
             dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
             enable_gqa: bool = False) -> torch.Tensor:
        amp = current()
        if amp is not None:  # the patched function is not a torch function: autocast's policy applies here
            query, key, value = amp.cast((query, key, value), amp.dtype)
        if (query.device.type == "meta" and not enable_gqa and dropout_p == 0.0
                and query.dim() == key.dim() == value.dim() == 4
                and query.shape[-1] == key.shape[-1] == value.shape[-1]
                and query.shape[:2] == key.shape[:2] == value.shape[:2]):
            try:
                return _flash(query, key, value, 0.0, is_causal, attn_mask=attn_mask, scale=scale)[0]
            except (RuntimeError, TypeError):
                pass
        return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                        scale=scale, enable_gqa=enable_gqa)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


# --------------------------------------------------------------------------- LSTM through oneDNN

def onednn_takes_lstm(dtype: torch.dtype) -> bool:
    """ATen's ``use_mkldnn`` for an LSTM input of ``dtype`` on this machine's CPU (device checks included)."""
    if not (torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled()):
        return False
    if dtype == torch.float32:
        return True
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if dtype == torch.float16:
        return not torch.is_grad_enabled() and bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return False


def _pages(nbytes: int) -> int:
    return -(-nbytes // _PAGE) * _PAGE


def _good_ld(dim: int, itemsize: int) -> int:
    """oneDNN's ``get_good_ld``: leading dimensions padded to 64 bytes, never a multiple of 256 elements."""
    per_line = 64 // itemsize
    ld = -(-dim // per_line) * per_line
    return ld + per_line if ld % 256 == 0 else ld


def onednn_lstm_workspace_bytes(steps: int, batch: int, input_size: int, hidden: int,
                                dtype: torch.dtype = torch.float32, cell_dtype: torch.dtype | None = None) -> int:
    """The training workspace of one oneDNN LSTM layer and direction, in bytes.

    oneDNN's ``set_workspace_sizes`` (cpu/rnn/rnn_utils.hpp) with one layer and one direction, as
    ``mkldnn_rnn_layer`` describes every call: gates ``T·N·ld(4H)``, hidden outputs ``T·N·ld(H)``,
    states ``2·(T+1)·N·ld(max(I, H))`` and cell states ``2·(T+1)·N·H`` in the data type; the state,
    iteration and cell-state gradients in float32 (``ld`` padded as ``_good_ld``); each part starts
    on a 4096-byte page.
    """
    size = torch.empty((), dtype=dtype).element_size()
    cell = torch.empty((), dtype=cell_dtype or dtype).element_size()
    acc = 4  # gemm_acc_t: float32 for f32, bf16 and f16 cells
    states = 2 * (steps + 1) * batch
    parts = [
        steps * batch * _good_ld(4 * hidden, size) * size,  # ws_gates
        steps * batch * _good_ld(hidden, size) * size,  # ws_ht
        states * _good_ld(max(input_size, hidden), size) * size,  # ws_states_layer (= ws_states_iter)
        states * hidden * cell,  # ws_states_iter_c
        states * _good_ld(max(input_size, hidden), acc) * acc,  # ws_diff_states_layer
        states * _good_ld(max(input_size, hidden), acc) * acc,  # ws_diff_states_iter
        states * hidden * acc,  # ws_diff_states_iter_c
    ]
    return sum(_pages(p) for p in parts)


def onednn_lstm_scratch_bytes(func: Any, args: Sequence[Any]) -> int:
    """Bytes a oneDNN LSTM layer kernel holds only while it runs (0 for any other op).

    Training forward: the primitive's scratchpad (gate pre-activations of every step, ``T·N·ld(4H)``
    in float32, since the layer GEMM is merged over time for ``N < 128``; one step otherwise; plus
    two ``N·ld(H)`` rows), the weights reordered to padded leading dimensions (``(I + H)·ld(4H)``)
    and the summed bias. Backward: the scratchpad in the data type, the weights in both layouts,
    and a contiguous copy of the output gradient when autograd hands a strided one (the slice of a
    bidirectional layer's concatenated output); float32 copies of the gradients for a bf16 cell.
    This is oneDNN's reference RNN path (x86 without AVX-512); other ISAs size it differently.
    """
    if func is _rnn_layer:
        if not torch.is_grad_enabled():  # inference (no workspace): its scratchpad is not modelled
            return 0
        backward = False
    elif func is _rnn_layer_backward:
        backward = True
    else:
        return 0
    x, w_ih = args[0], args[1]
    steps, batch, input_size = x.shape[0], x.shape[1], x.shape[2]
    hidden = int(args[15] if backward else args[10])
    size = x.element_size()
    scratch_size = size if backward else 4
    rows = steps * batch if (backward or batch < 128) else batch
    scratch = (_pages(rows * _good_ld(4 * hidden, scratch_size) * scratch_size)
               + 2 * _pages(batch * _good_ld(hidden, 4) * 4))
    weights = (input_size + hidden) * _good_ld(4 * hidden, size) * size  # ldigo, the forward layout
    bias = 4 * hidden * w_ih.element_size()
    if not backward:
        return scratch + weights + bias
    weights += 4 * hidden * (_good_ld(input_size, size) + _good_ld(hidden, size)) * size  # ldgoi
    grad_output = args[10]
    copies = 0
    if isinstance(grad_output, torch.Tensor):
        if not grad_output.is_contiguous():
            copies += grad_output.numel() * grad_output.element_size()
        if x.dtype != torch.float32:
            copies += grad_output.numel() * 4
    return scratch + weights + bias + copies


class _SizedWorkspace(TorchDispatchMode):
    """Give ``mkldnn_rnn_layer``'s meta workspace (empty) oneDNN's size, so that autograd saves it."""

    def __init__(self, nbytes: int) -> None:
        super().__init__()
        self.nbytes = nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        out = func(*args, **(kwargs or {}))
        if func is _rnn_layer and self.nbytes and out[3].numel() == 0:
            out = (*out[:3], torch.empty(self.nbytes, dtype=torch.uint8, device=out[0].device))
        return out


def _layer(operands: Sequence[torch.Tensor], reverse: bool, hidden: int, num_layers: int, has_biases: bool,
           bidirectional: bool, batch_first: bool, train: bool) -> tuple[torch.Tensor, ...]:
    x, cx = operands[0], operands[6]
    nbytes = (onednn_lstm_workspace_bytes(x.shape[0], x.shape[1], x.shape[2], hidden, x.dtype, cx.dtype)
              if torch.is_grad_enabled() else 0)
    with _SizedWorkspace(nbytes):
        return _rnn_layer(*operands, reverse, [], _LSTM_MODE, hidden, num_layers, has_biases, bidirectional,
                          batch_first, train)


def _mkldnn_lstm(input: torch.Tensor, hx: Sequence[torch.Tensor], params: Sequence[torch.Tensor], has_biases: bool,
                 num_layers: int, dropout_p: float, train: bool, bidirectional: bool,
                 batch_first: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ATen's ``mkldnn_rnn`` (aten/src/ATen/native/mkldnn/RNN.cpp), op for op, on meta tensors."""
    x = (input.transpose(0, 1) if batch_first else input).contiguous()
    h0, c0 = hx[0].contiguous(), hx[1].contiguous()
    hidden = h0.size(2)
    stride = 4 if has_biases else 2
    directions = 2 if bidirectional else 1
    amp = current()
    layer_input, hy, cy = x, [], []
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            w = params[index * stride:(index + 1) * stride]
            b_ih = w[2] if has_biases else torch.zeros(w[0].shape, dtype=w[0].dtype, device=w[0].device)
            b_hh = w[3] if has_biases else torch.zeros(w[1].shape, dtype=w[1].dtype, device=w[1].device)
            operands = (layer_input, w[0], w[1], b_ih, b_hh, h0[index], c0[index])
            if amp is not None:  # CPU autocast casts mkldnn_rnn_layer (lower-precision list), weights cached
                operands = amp.cast(operands, amp.dtype)
            out, layer_hy, layer_cy, _ = _layer(operands, direction > 0, hidden, num_layers, has_biases,
                                                bidirectional, batch_first, train)
            outputs.append(out)
            hy.append(layer_hy)
            cy.append(layer_cy)
        layer_input = outputs[0] if directions == 1 else torch.cat(outputs, -1)
        if dropout_p != 0 and train and layer < num_layers - 1:
            layer_input = torch.dropout(layer_input, dropout_p, True)
    output = layer_input.transpose(0, 1) if batch_first else layer_input
    return output, torch.stack(hy, 0), torch.stack(cy, 0)


@contextlib.contextmanager
def onednn_lstm(device: str) -> Iterator[None]:
    """Route ``_VF.lstm`` to oneDNN's layer kernels on meta while the step is planned for ``device`` = cpu."""
    if not device.startswith("cpu"):
        yield
        return
    original = torch._VF.lstm

    def lstm(*args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == 9 and isinstance(args[1], (list, tuple)):  # padded input, not packed
            input, hx = args[0], args[1]
            if (isinstance(input, torch.Tensor) and input.device.type == "meta" and input.numel() != 0
                    and len(hx) == 2 and hx[0].shape[-1] == hx[1].shape[-1]  # no projections
                    and onednn_takes_lstm(input.dtype)):
                return _mkldnn_lstm(*args)
        return original(*args, **kwargs)

    with routed_vf({"lstm": lstm}):
        yield


@contextlib.contextmanager
def cuda_dropout(device: str) -> Iterator[None]:
    """Route out-of-place dropout (``torch.dropout``, ``_VF.dropout``) to the fused ``native_dropout`` on
    meta while the step is planned for ``device`` = cuda, as ``at::dropout`` does on a CUDA tensor."""
    if not device.startswith("cuda"):
        yield
        return
    original = torch._C._VariableFunctions.dropout
    public = torch.dropout

    def dropout(input: torch.Tensor, p: float, train: bool) -> torch.Tensor:
        if (train and 0 < p < 1 and isinstance(input, torch.Tensor) and input.device.type == "meta"
                and input.numel() > 0):
            return torch.native_dropout(input, p, train)[0]
        return original(input, p, train)

    torch.dropout = dropout
    try:
        with routed_vf({"dropout": dropout}):
            yield
    finally:
        torch.dropout = public


@contextlib.contextmanager
def routed_vf(routes: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
    """Shadow the ``torch._VF`` functions ``routes`` names while the step runs, then put back what was
    there (``_VF`` finds an instance attribute before ``torch._C._VariableFunctions``'s)."""
    vf = torch._VF
    missing = object()
    shadowed = {name: vf.__dict__.get(name, missing) for name in routes}
    for name, function in routes.items():
        setattr(vf, name, function)
    try:
        yield
    finally:
        for name, value in shadowed.items():
            if value is missing:
                delattr(vf, name)
            else:
                setattr(vf, name, value)
