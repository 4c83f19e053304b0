"""ONNX export of a CMR network with its output decoding, and an onnxruntime network to run it.

The exported graph maps normalised images (B, 3, S, S) (B dynamic) to the six required tensors of
:class:`cmr.models.outputs.DecodedOutputs`, in :data:`OUTPUT_NAMES` order (a colour head's
``albedo`` and ``light`` are not exported: they are None in the graph's outputs): the network, then
:func:`cmr.models.outputs.decode_outputs` (metres, sigmoid, mask resize, sub-pixel heatmap peaks).
The registration in camera space stays outside, in torch (:func:`cmr.models.prediction.predict`).

Two operators are replaced in an export-only copy of the model (:func:`exportable_copy`),
because the TorchScript-based exporter writes ``index_add_`` as a ScatterElements *without*
reduction (duplicate rows overwrite instead of adding):

* :class:`~cmr.models.spiral.SparseUpsample` by :class:`GatheredMatrix` (a padded gather,
  the same products summed in another order);
* torch-geometric's ``ChebConv`` (scatter-based message passing, Laplacian rebuilt per call) by
  :class:`GatheredChebConv`, its scaled Laplacian precomputed once as a :class:`GatheredMatrix`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from cmr.models.outputs import DecodedOutputs, decode_outputs
from cmr.models.spiral import SparseUpsample

#: Graph outputs: the required fields of :class:`DecodedOutputs`, in their order (the optional
#: colour-head fields, which default to None, are left out).
OUTPUT_NAMES = tuple(field.name for field in dataclasses.fields(DecodedOutputs)
                     if field.default is dataclasses.MISSING)
#: The graph's one input: (B, 3, S, S) normalised images.
INPUT_NAME = "images"
#: Lowest ONNX opset written.
OPSET = 17


class GatheredMatrix(nn.Module):
    """``y[b] = M @ x[b]`` for a fixed sparse M (N_out, N_in) as a padded gather and a weighted sum.

    Row n of M is stored as its K = max row length column indices ``index[n]`` and values
    ``weight[n]`` (padding: column 0 with weight 0). Exports as Gather, Mul and ReduceSum.

    Args:
        matrix: (N_out, N_in) scipy sparse matrix or dense array.
    """

    def __init__(self, matrix: sp.spmatrix | np.ndarray) -> None:
        super().__init__()
        csr = sp.csr_matrix(matrix)
        self.num_out, self.num_in = csr.shape
        lengths = np.diff(csr.indptr)
        width = max(int(lengths.max(initial=0)), 1)
        index = np.zeros((self.num_out, width), dtype=np.int64)
        weight = np.zeros((self.num_out, width), dtype=np.float32)
        slots = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], lengths)
        rows = np.repeat(np.arange(self.num_out), lengths)
        index[rows, slots] = csr.indices
        weight[rows, slots] = csr.data
        self.register_buffer("index", torch.as_tensor(index), persistent=False)
        self.register_buffer("weight", torch.as_tensor(weight), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N_in, C) -> (B, N_out, C)."""
        gathered = x.index_select(1, self.index.view(-1))
        gathered = gathered.view(x.shape[0], self.num_out, self.index.shape[1], x.shape[2])
        return (gathered * self.weight.to(x.dtype)[None, :, :, None]).sum(2)


def gathered_upsample(upsample: SparseUpsample) -> GatheredMatrix:
    """The :class:`GatheredMatrix` of a :class:`SparseUpsample`'s (N_fine, N_coarse) matrix."""
    matrix = sp.coo_matrix((upsample.values.cpu().numpy(), (upsample.rows.cpu().numpy(),
                            upsample.cols.cpu().numpy())), shape=(upsample.num_fine, upsample.num_coarse))
    return GatheredMatrix(matrix)


class GatheredChebConv(nn.Module):
    """A torch-geometric ``ChebConv`` on a fixed graph, with the same weights (shared, not copied).

    ``out = sum_k lins[k](T_k) + bias`` with ``T_0 = x``, ``T_1 = L x``,
    ``T_k = 2 L T_{k-1} - T_{k-2}``, L the conv's scaled Laplacian (its ``__norm__``) of the
    graph ``edge_index`` (2, E) on N vertices. ``forward(x, edge_index)`` ignores ``edge_index``.
    """

    def __init__(self, conv: nn.Module, edge_index: Tensor, num_vertices: int) -> None:
        super().__init__()
        edges, norm = conv.__norm__(edge_index, num_vertices, None, conv.normalization, None,
                                    dtype=torch.float32)
        source, target = edges.cpu().numpy()
        self.propagate = GatheredMatrix(sp.coo_matrix((norm.detach().cpu().numpy(), (target, source)),
                                                      shape=(num_vertices, num_vertices)))
        self.lins = conv.lins
        self.bias = conv.bias

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        previous, current = x, x
        out = self.lins[0](x)
        if len(self.lins) > 1:
            current = self.propagate(x)
            out = out + self.lins[1](current)
        for lin in self.lins[2:]:
            previous, current = current, 2.0 * self.propagate(current) - previous
            out = out + lin(current)
        return out if self.bias is None else out + self.bias


def exportable_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (eval mode) with the operators of the module docstring replaced."""
    exportable = copy.deepcopy(model).eval()
    for module in list(exportable.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, SparseUpsample):
                setattr(module, name, gathered_upsample(child))
            elif type(child).__name__ == "ChebConv" and hasattr(module, "edge_index"):
                num_vertices = int(module.edge_index.max()) + 1
                setattr(module, name, GatheredChebConv(child, module.edge_index, num_vertices))
    return exportable


class DecodingNetwork(nn.Module):
    """A model and :func:`decode_outputs` as one module: (B, 3, S, S) images -> the
    :data:`OUTPUT_NAMES` tensors (vertices (B, N, 3) m, joints (B, 21, 3) m, heatmaps
    (B, 21, S/2, S/2), mask (B, S, S), uv (B, 21, 2) input pixels, confidence (B, 21)).

    Args:
        model: a CMR model. joint_regressor: (21, N) array or tensor. input_size: S, pixels.
    """

    def __init__(self, model: nn.Module, joint_regressor, input_size: int) -> None:
        super().__init__()
        self.model = model
        self.input_size = int(input_size)
        self.register_buffer("joint_regressor", torch.as_tensor(np.asarray(joint_regressor), dtype=torch.float32))

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        decoded = decode_outputs(self.model(images), self.joint_regressor, self.input_size)
        return tuple(getattr(decoded, name) for name in OUTPUT_NAMES)


def export_onnx(model: nn.Module, joint_regressor, input_size: int, path: str | os.PathLike,
                opset: int = OPSET) -> Path:
    """Write ``model`` plus its output decoding as an ONNX graph with a dynamic batch dimension.

    model: a CMR model (left unchanged). joint_regressor: (21, N). input_size: S, pixels.
    Returns the path written.
    """
    network = DecodingNetwork(exportable_copy(model).cpu(), joint_regressor, input_size).eval()
    example = torch.zeros(2, 3, input_size, input_size)
    dynamic = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about the shape checks (shapes are fixed but B)
        torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic)
    return path


#: int8 quantisation modes of :func:`quantize_graph`.
INT8_MODES = ("dynamic", "static")


class _Calibration:
    """onnxruntime's calibration reader over (N, 3, S, S) images, one image per call."""

    def __init__(self, images: Tensor) -> None:
        self.batches = iter([{INPUT_NAME: image[None].numpy().astype(np.float32)} for image in images.cpu()])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def quantize_graph(graph: str | os.PathLike, destination: str | os.PathLike, mode: str,
                   calibration: Tensor | None = None) -> Path:
    """Write an int8 copy of an exported graph (:func:`export_onnx`) with onnxruntime's quantiser.

    ``dynamic``: the weights of the MatMul and Conv operators int8, their activations quantised
    at run time (Gemm, the fully connected layers on (B, D), stays float32). ``static``: the convolutions only (most of the arithmetic; the mesh decoder and the
    output decoding stay float32), weights int8 per output channel, input activations uint8 with
    ranges calibrated (min-max) on ``calibration`` (N, 3, S, S) normalised crops, in QDQ form.
    Returns the path written.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if mode not in INT8_MODES:
        raise ValueError(f"unknown int8 mode {mode!r}; choose one of {INT8_MODES}")
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    disabled = logging.root.manager.disable
    logging.disable(max(disabled, logging.WARNING))  # the quantiser logs its advice to pre-process at every call
    try:
        if mode == "dynamic":
            quantize_dynamic(str(graph), str(destination), weight_type=QuantType.QInt8)
            return destination
        if calibration is None or len(calibration) == 0:
            raise ValueError("static int8 quantisation needs calibration images (N, 3, S, S), N >= 1")
        quantize_static(str(graph), str(destination), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
    finally:
        logging.disable(disabled)
    return destination


class OnnxNetwork:
    """An exported graph in onnxruntime, called like :class:`DecodingNetwork`'s decoding:
    ``network(images)`` with (B, 3, S, S) float images returns :class:`DecodedOutputs` (CPU
    float32 tensors; :func:`cmr.models.prediction.predict` runs it in place of the model).

    Args:
        path: the ``.onnx`` file. threads: onnxruntime intra-op threads (0: its default).
    """

    device = torch.device("cpu")

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_size = int(self.session.get_inputs()[0].shape[-1])

    def __call__(self, images: Tensor) -> DecodedOutputs:
        arrays = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: images.detach().cpu().float().numpy()})
        return DecodedOutputs(*(torch.from_numpy(array) for array in arrays))
