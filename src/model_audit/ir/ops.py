"""THE op catalogue: every op-name family model-audit knows, defined once.

Kinds, cost formulas, the receptive-field transfer functions, the hooks tracer, meta fast paths,
probes, rules and the fvcore cross-check all read their op names from here, so one op cannot be a
dropout for one of them and an elementwise op for another. Names are the spellings an op arrives
under: fx ``call_function``/``call_method`` targets (``conv2d``, ``view``, ``add``) and ATen overload
packets (``convolution``, ``_softmax``, ``native_batch_norm``); both live in one family when they are
the same operation. A test (``tests/ir/test_op_catalogue.py``) fails if a literal set of op names
appears anywhere else in the package.
"""
from __future__ import annotations

from typing import Iterable


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _dims(template: str, dims: Iterable[int] = (1, 2, 3)) -> frozenset[str]:
    return frozenset(template.format(d) for d in dims)


# ------------------------------------------------------------------------------ matmul-like work

CONV = _names("conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution _convolution")
LINEAR = _names("linear addmm bilinear")
LINEAR_FUNCTIONS = _names("linear")  # F.linear: weight [out, in], the layer a rule can rewrite
MATMUL = _names("matmul mm bmm baddbmm einsum")
ATTENTION = _names(
    "scaled_dot_product_attention multi_head_attention_forward _native_multi_head_attention "
    "_scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_efficient_attention "
    "_scaled_dot_product_flash_attention"
)
RECURRENT = _names("lstm gru rnn_tanh rnn_relu mkldnn_rnn_layer _cudnn_rnn")
# torch._VF recurrent functions ATen runs through FullLayer, which projects a CPU input's whole
# sequence at once (analyses/memory/full_layer.py rebuilds that branch for the CPU-planned step).
FULL_LAYER_RECURRENT = _names("gru rnn_tanh rnn_relu lstm")
EMBEDDING = _names("embedding")
# Matmul-family ATen ops whose tensor operands must share one dtype (meta kernels do not check it).
SAME_DTYPE_MATMULS = _names("mm addmm bmm baddbmm addmv mv dot addbmm")

# Matmul-like ATen ops fvcore has no handle for, with what they compute (the cross-check explains them).
MATMUL_LIKE_DESCRIPTIONS: dict[str, str] = {
    "scaled_dot_product_attention": "attention matmuls (Q·Kᵀ and attn·V) inside F.scaled_dot_product_attention",
    "_native_multi_head_attention": "nn.MultiheadAttention eval fast path (projections and attention)",
    "_transformer_encoder_layer_fwd": "nn.TransformerEncoderLayer eval fast path (attention and FFN)",
    "lstm": "LSTM gate matmuls", "gru": "GRU gate matmuls",
    "rnn_tanh": "RNN matmuls", "rnn_relu": "RNN matmuls",
    "lstm_cell": "LSTMCell gate matmuls", "gru_cell": "GRUCell gate matmuls",
    "rnn_tanh_cell": "RNNCell matmuls", "rnn_relu_cell": "RNNCell matmuls",
    "baddbmm": "batched matmul with add (baddbmm)", "addbmm": "addbmm",
    "addmv": "matrix-vector product (addmv)", "mv": "matrix-vector product (mv)",
    "dot": "dot product", "vdot": "dot product", "bilinear": "nn.Bilinear",
    "tensordot": "tensordot", "linalg_vecdot": "vecdot", "_convolution_mode": "convolution",
    "conv_tbc": "convolution (TBC)",
}
# Op names too long for a functional layer's name (``h.0.attn.sdpa``); the layer's ``type`` keeps the full name.
LAYER_NAME_SHORT: dict[str, str] = {"scaled_dot_product_attention": "sdpa"}
# Short names for the matmul-like ops in narrow table columns.
SHORT_NAMES: dict[str, str] = {"scaled_dot_product_attention": "sdpa", "_native_multi_head_attention": "mha-fastpath",
                               "_transformer_encoder_layer_fwd": "encoder-fastpath"}
# fvcore's own operator keys that carry matmul work (its "conv" is aten::_convolution), and those it counts
# as something other than MACs.
FVCORE_MAC_KEYS = _names("conv _convolution linear addmm bmm matmul mm einsum")
FVCORE_NON_MAC_KEYS = _names(
    "batch_norm group_norm layer_norm instance_norm upsample_nearest2d upsample_bilinear2d adaptive_avg_pool2d "
    "grid_sampler"
)

# ------------------------------------------------------------------------------ normalization

BATCH_NORM = _names(
    "batch_norm native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training "
    "cudnn_batch_norm miopen_batch_norm"
)
NORM = BATCH_NORM | _names(
    "layer_norm group_norm instance_norm rms_norm native_layer_norm native_group_norm local_response_norm normalize"
)

# Where each fused attention kernel takes ``is_causal`` (positionally); a bias/mask tensor is args[3] or a kwarg.
SDPA_CAUSAL_ARGUMENT: dict[str, int] = {
    "_scaled_dot_product_flash_attention_for_cpu": 4,
    "_scaled_dot_product_flash_attention": 4,
    "_scaled_dot_product_efficient_attention": 6,
    "_scaled_dot_product_cudnn_attention": 6,
    "_scaled_dot_product_fused_attention_overrideable": 5,
}
# Ops whose output holds exactly the values of their first input (index ranges survive them).
SAME_VALUES = _names("view _unsafe_view reshape _reshape_alias flatten unsqueeze squeeze clone contiguous _to_copy "
                     "alias detach t transpose permute expand lift_fresh")
EMBEDDING_LOOKUPS = _names("embedding embedding_bag _embedding_bag _embedding_bag_forward_only")

# Kernels whose input and affine parameters must agree in dtype (half/bf16 input with float parameters
# is a supported mixed-precision case; float against double, or an integer input, is not).
AFFINE_NORM_KERNELS = _names("native_layer_norm native_batch_norm _native_batch_norm_legit "
                             "_native_batch_norm_legit_no_training native_group_norm")

# ------------------------------------------------------------------------------ dropout

DROPOUT = _names("dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout feature_dropout "
                 "native_dropout")

# ------------------------------------------------------------------------------ activations

SOFTMAX = _names("softmax _softmax _safe_softmax softmax2d")  # a distribution over one axis
LOG_SOFTMAX = _names("log_softmax _log_softmax")
SOFTMIN = _names("softmin")
# Activations that mix values along an axis (the receptive field of one output covers the whole axis).
MIXING_ACTIVATIONS = SOFTMAX - {"softmax2d"} | LOG_SOFTMAX | SOFTMIN
ELEMENTWISE_ACTIVATIONS = _names(
    "relu relu_ relu6 sigmoid tanh gelu silu mish elu selu celu leaky_relu hardtanh hardswish hardsigmoid "
    "softplus softsign logsigmoid glu prelu threshold tanhshrink hardshrink softshrink"
)
ACTIVATIONS = ELEMENTWISE_ACTIVATIONS | (SOFTMAX - {"softmax2d"}) | LOG_SOFTMAX

# The largest derivative of a saturating activation (sigmoid'(0) = 1/4): a chain of n of them bounds
# the gradient by the product (the sigmoid-vanishing-gradient rule's formula).
SATURATING_MAX_DERIVATIVE: dict[str, float] = {"sigmoid": 0.25, "hardsigmoid": 1 / 6, "tanh": 1.0, "softsign": 1.0}
# Functional activation -> the family whose saturation the probes measure.
SATURATION_FAMILY: dict[str, str] = {
    "relu": "relu", "relu_": "relu", "relu6": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
    "tanh": "tanh", "tanh_": "tanh", "softsign": "softsign", "hardsigmoid": "hardsigmoid",
}
# Unary activations whose output on a dense floating-point input is exactly ``empty_like(input)``
# (the meta fast path skips their Python meta kernels).
SHAPE_PRESERVING_UNARY = _names(
    "relu relu6 hardtanh hardswish hardsigmoid gelu silu sigmoid tanh elu selu celu leaky_relu mish softplus exp neg"
)

# ------------------------------------------------------------------------------ pooling, resampling, padding

MAX_POOL = _dims("max_pool{}d") | _names("max_pool2d_with_indices max_pool3d_with_indices")
AVG_POOL = _dims("avg_pool{}d")
LP_POOL = _dims("lp_pool{}d")
ADAPTIVE_POOL = _dims("adaptive_avg_pool{}d") | _dims("adaptive_max_pool{}d") | _names(
    "_adaptive_avg_pool2d _adaptive_avg_pool3d")
POOL = MAX_POOL | AVG_POOL | LP_POOL | ADAPTIVE_POOL
UPSAMPLE = _names("interpolate upsample upsample_nearest upsample_bilinear upsample_nearest2d upsample_bilinear2d")
PADDING = _names("pad constant_pad_nd")
EXPLICIT_PADS = PADDING | _names("reflection_pad2d replication_pad2d")  # take a ``pad`` list

# ------------------------------------------------------------------------------ arithmetic

# Binary arithmetic: a merge of two tensors, or elementwise with a constant.
BINARY_ARITHMETIC = _names("add sub mul iadd imul isub truediv div")
# x (op) g: the ops a channel gate (squeeze-excitation) applies to a feature map.
GATING_ARITHMETIC = _names("mul add iadd imul sub div")
# Products of two data tensors (a gate multiplying a signal, attention scores).
PRODUCTS = _names("mul imul div truediv idiv matmul bmm einsum")
# Elementwise ops that are affine in each input (no nonlinearity between two linear layers).
AFFINE_ELEMENTWISE = _names("add iadd sub isub rsub mul imul div truediv idiv neg")
ELEMENTWISE_MATH = _names(
    "add sub mul div truediv floordiv true_divide rsub neg abs exp exp2 expm1 log log2 log10 log1p sqrt rsqrt "
    "pow square sin cos tan sinh cosh atan clamp clip clamp_min clamp_max where maximum minimum fmax fmin lerp "
    "addcmul addcdiv masked_fill sign reciprocal floor ceil round trunc frac erf erfc erfinv sgn nan_to_num "
    "stochastic_depth mul_ add_ sub_ div_ iadd imul isub itruediv"
)
# Calls that bound a tensor's values (a gradient hook clamping the gradient it returns).
CLAMPS = _names("clamp clamp_ clip clip_ clamp_max clamp_min clamp_max_ clamp_min_ renorm renorm_")
COMPARISON = _names("bitwise_not logical_not logical_and logical_or eq ne lt le gt ge isnan isinf isfinite")

# ------------------------------------------------------------------------------ reductions

REDUCTIONS = _names("mean sum amax amin max min var std")  # the "reduction" kind
ALL_REDUCTIONS = REDUCTIONS | _names("prod logsumexp norm var_mean std_mean all any argmax argmin")
# Reductions that can collapse a spatial map to one value (global pooling spelled by hand).
SPATIAL_REDUCTIONS = _names("mean amax sum max")

# ------------------------------------------------------------------------------ data movement

CONCAT = _names("cat concat stack hstack vstack")
CONCAT_ALONG_DIM = _names("cat concat concatenate stack")  # join along their ``dim`` argument
PERMUTES = _names("permute transpose t swapaxes swapdims")
EXPANDS = _names("expand expand_as broadcast_to")
SPLITS = _names("chunk split split_with_sizes unbind tensor_split unsafe_split")
VIEWS = _names("view reshape flatten unflatten squeeze unsqueeze _unsafe_view view_as reshape_as _reshape_alias ravel")
CONVERSIONS = _names("contiguous clone detach to float half double type_as bfloat16 cpu cuda requires_grad_ "
                     "_to_copy alias")
# The "reshape" kind: views, layout, indexing, conversions and Python-level metadata calls.
RESHAPE = _names(
    "view reshape flatten unflatten permute transpose t squeeze unsqueeze contiguous getitem size chunk split "
    "unbind expand expand_as repeat narrow select slice _unsafe_view getattr type_as to float half double long "
    "int bool clone detach dim numel"
)
# ATen ops the hooks tracer lets through without a row of their own: views and copies of one tensor.
ATEN_PASS_THROUGH = _names(
    "view _unsafe_view reshape _reshape_alias permute transpose t expand squeeze unsqueeze slice select clone "
    "contiguous _to_copy detach alias split split_with_sizes unsafe_split unbind as_strided flatten unflatten "
    "chunk lift_fresh copy_ expand_as narrow"
)

# ------------------------------------------------------------------------------ costs (ATen names)

# One FLOP per floating-point output element (analyses/costs.py registers them; in-place forms too).
POINTWISE_COST = _names(
    "add sub rsub mul div neg abs reciprocal sqrt rsqrt exp exp2 expm1 log log2 log10 log1p pow square sin cos tan "
    "asin acos atan atan2 sinh cosh sign sgn floor ceil round trunc frac fmod remainder floor_divide clamp "
    "clamp_min clamp_max clip maximum minimum fmax fmin relu relu6 leaky_relu elu selu celu gelu silu mish sigmoid "
    "tanh hardtanh hardswish hardsigmoid hardshrink softshrink softplus logsigmoid log_sigmoid_forward threshold "
    "prelu _prelu_kernel glu erf erfc erfinv nan_to_num lerp addcmul addcdiv xlogy hypot copysign heaviside rrelu "
    "rrelu_with_noise native_dropout native_dropout_backward dropout alpha_dropout feature_dropout logit sinc "
    "polar real imag "
    # backward kernels of the above
    "threshold_backward sigmoid_backward tanh_backward gelu_backward silu_backward hardswish_backward "
    "hardsigmoid_backward hardtanh_backward leaky_relu_backward elu_backward softplus_backward mish_backward "
    "_prelu_kernel_backward glu_backward log_sigmoid_backward"
)
# Data movement, metadata, creation, comparison and selection: no floating-point arithmetic. Listed
# explicitly so that anything neither here nor costed is reported as uncounted.
ZERO_COST = _names(
    "view _unsafe_view reshape _reshape_alias permute transpose t numpy_T expand expand_as squeeze unsqueeze "
    "flatten unflatten slice select narrow split split_with_sizes unsafe_split unsafe_split_with_sizes unbind "
    "chunk unsafe_chunk tensor_split cat concat stack hstack vstack clone contiguous copy copy_ _to_copy to "
    "detach alias lift_fresh lift_fresh_copy empty empty_like empty_strided zeros zeros_like ones ones_like full "
    "full_like fill zero arange linspace eye new_zeros new_ones new_empty new_empty_strided new_full "
    "scalar_tensor as_strided index index_select gather take_along_dim embedding embedding_dense_backward "
    "masked_fill where constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d "
    "replication_pad2d replication_pad3d repeat repeat_interleave roll flip tril triu bernoulli rand rand_like "
    "randn randn_like randint randint_like randperm uniform normal exponential _local_scalar_dense item "
    "upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d "
    "_upsample_nearest_exact2d _upsample_nearest_exact3d pixel_shuffle pixel_unshuffle channel_shuffle "
    "native_channel_shuffle resolve_conj resolve_neg view_as_real view_as_complex diagonal unfold im2col set_ "
    "resize_ index_put _index_put_impl masked_scatter scatter select_scatter slice_scatter diagonal_scatter "
    "as_strided_scatter eq ne lt le gt ge logical_and logical_or logical_not logical_xor bitwise_and bitwise_or "
    "bitwise_not bitwise_xor isnan isinf isfinite _assert_async _assert_scalar sym_size sym_stride sym_numel "
    "sym_storage_offset _functional_assert_async _has_compatible_shallow_copy_type is_same_size equal nonzero "
    "masked_select clamp_min_ _unsafe_index detach_ align_to select_backward slice_backward expand_copy "
    "permute_copy view_copy t_copy transpose_copy unsqueeze_copy squeeze_copy _pin_memory record_stream "
    "_efficientzerotensor max_pool2d_with_indices_backward_"
)

# ATen op -> the functional spellings a user may have written for it (to find the user's call of an op
# the hooks tracer recorded under its ATen name).
FUNCTIONAL_SPELLINGS: dict[str, set[str]] = {"bernoulli": {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"},
               "native_dropout": {"dropout"}, "convolution": {"conv1d", "conv2d", "conv3d"},
               "addmm": {"linear"}, "mm": {"linear", "matmul", "mm"}, "bmm": {"bmm", "matmul"},
               "_softmax": {"softmax"}, "_log_softmax": {"log_softmax"}, "mean": {"mean", "adaptive_avg_pool2d"},
               "max_pool2d_with_indices": {"max_pool2d"}, "native_batch_norm": {"batch_norm"},
               "_native_batch_norm_legit_no_training": {"batch_norm"}, "native_layer_norm": {"layer_norm"}}

# Ops autocast runs in the lower precision (bf16/fp16), by function name (the memory analysis emulates
# autocast on meta tensors, which autocast itself never sees).
AUTOCAST_LOWER_PRECISION = frozenset({
    "linear", "matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "addmm", "addbmm", "baddbmm", "addmv", "addr",
    "mv", "einsum", "chain_matmul", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "conv_tbc", "prelu", "scaled_dot_product_attention", "lstm_cell", "gru_cell",
    "rnn_tanh_cell", "rnn_relu_cell", "linalg_vecdot",
})
LOSSES = frozenset({
    "mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
    "l1_loss", "smooth_l1_loss", "huber_loss", "margin_ranking_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "multilabel_margin_loss", "hinge_embedding_loss", "poisson_nll_loss",
    "cosine_embedding_loss", "ctc_loss", "cdist",
})
# Ops autocast runs in float32, per device type.
AUTOCAST_FP32: dict[str, frozenset] = {
    "cpu": LOSSES | frozenset({"prod", "quantile", "nanquantile", "stft", "trace", "max_pool3d", "adaptive_avg_pool3d",
                      "avg_pool3d", "grid_sampler"}),
    "cuda": LOSSES | frozenset({"softmax", "log_softmax", "layer_norm", "group_norm", "norm", "sum", "prod", "cumsum",
                       "cumprod", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt", "pow",
                       "softplus", "cosine_similarity", "dist", "pdist", "renorm", "logsumexp", "acos", "asin",
                       "cosh", "sinh", "tan", "erfinv", "interpolate", "upsample_nearest2d", "upsample_bilinear2d",
                       "frobenius_norm", "nuclear_norm"}),
}

# BLAS matmuls that copy an operand they cannot read in place (a stride-0 expanded gradient).
BLAS_MATMULS = _names("mm addmm bmm baddbmm")

# The fused optimizer steps (``fused=True``): one in-place kernel over every parameter, no output.
# Some have no meta kernel in torch; the memory analysis runs those as the shape check they are.
FUSED_OPTIMIZER_STEPS = _names("_fused_adam_ _fused_adamw_ _fused_sgd_ _fused_adagrad_")


# ------------------------------------------------------------------------------ kinds

# Function/op name -> layer kind, for functional layers (modules get theirs from their class).
FUNCTION_KINDS: dict[str, str] = {}
for _family, _kind in (
    (CONV, "conv"), (LINEAR, "linear"), (MATMUL, "matmul"), (NORM, "norm"), (DROPOUT, "dropout"),
    (ACTIVATIONS, "activation"), (POOL, "pool"),
    (UPSAMPLE, "upsample"), (PADDING, "padding"), (ATTENTION, "attention"), (CONCAT, "merge"),
    (RESHAPE, "reshape"), (EMBEDDING, "embedding"), (RECURRENT, "recurrent"), (REDUCTIONS, "reduction"),
):
    for _name in _family:
        FUNCTION_KINDS.setdefault(_name, _kind)

# ------------------------------------------------------------------------------ signatures

_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
# Parameter order of functional builtins, for calls fx's schema matcher cannot bind (so that
# consumers never see ``arg0, arg1, ...`` for them).
PARAMETER_ORDER: dict[str, tuple[str, ...]] = {
    **{f"conv{n}d": _CONV_ARGS for n in "123"},
    **{f"conv_transpose{n}d": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                               "dilation") for n in "123"},
    **{f"avg_pool{n}d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                         "divisor_override") for n in "123"},
    **{f"max_pool{n}d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                         "return_indices") for n in "123"},
    **{f"lp_pool{n}d": ("input", "norm_type", "kernel_size", "stride", "ceil_mode") for n in "123"},
    **{f"adaptive_{kind}_pool{n}d": ("input", "output_size") for kind in ("avg", "max") for n in "123"},
    "interpolate": ("input", "size", "scale_factor", "mode", "align_corners"),
    "pad": ("input", "pad", "mode", "value"),
    **{name: ("tensors", "dim") for name in ("cat", "concat", "stack")},
    **{name: ("input", "dim") for name in ("softmax", "log_softmax")},
    "dropout": ("input", "p", "training", "inplace"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
}


def catalogue_names() -> frozenset[str]:
    """Every op name the catalogue knows (the op-set test uses it to find sets defined elsewhere)."""
    names: set[str] = set()
    for value in list(globals().values()):
        if isinstance(value, frozenset):
            names |= value
        elif isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            names |= set(value)
    return frozenset(names)
