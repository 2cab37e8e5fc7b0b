#!/usr/bin/env python3
"""Write a tiny end-to-end detector with a dynamic batch, for testing cross-camera
batching (neither shipped model accepts a batch above 1).

Input  images  [N, 3, 64, 64] float32 (RGB, 0..1)
Output boxes   [N, 1, 4]  float32  one fixed box (8, 8, 40, 40) in input pixels
       scores  [N, 1]     float32  mean brightness of the image
       classes [N, 1]     int64    always 0

So a bright frame yields a detection and a dark one does not, per batch entry: a wrong
batch slicing shows up as a detection on the wrong camera.

Usage: make_batch_model.py OUT.onnx
"""
import sys

import onnx
from onnx import TensorProto, helper

N = "N"
nodes = [
    helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0, axes=[1, 2, 3]),
    helper.make_node("Unsqueeze", ["mean", "ax1"], ["scores"]),
    helper.make_node("Shape", ["images"], ["shape"]),
    helper.make_node("Slice", ["shape", "s0", "s1"], ["batch"]),
    helper.make_node("Concat", ["batch", "one_one"], ["tile_reps"], axis=0),
    helper.make_node("Tile", ["box"], ["boxes_pre"], ),
    helper.make_node("Mul", ["scores", "zero"], ["zeros"]),
    helper.make_node("Cast", ["zeros"], ["classes"], to=TensorProto.INT64),
]
# Tile needs the repeats as its second input.
nodes[5] = helper.make_node("Tile", ["box", "tile_reps"], ["boxes"])
inits = [
    helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
    helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
    helper.make_tensor("s1", TensorProto.INT64, [1], [1]),
    helper.make_tensor("one_one", TensorProto.INT64, [2], [1, 1]),
    helper.make_tensor("box", TensorProto.FLOAT, [1, 1, 4], [8.0, 8.0, 40.0, 40.0]),
    helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
]
graph = helper.make_graph(
    nodes,
    "batch_test",
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, [N, 3, 64, 64])],
    [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [N, 1, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [N, 1]),
        helper.make_tensor_value_info("classes", TensorProto.INT64, [N, 1]),
    ],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
