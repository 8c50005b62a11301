#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dfq::model {

// An ONNX model as plain data: what the exporter builds from a TorchScript graph, without torch or
// protobuf in sight; serializeOnnx turns it into the protobuf (onnx_writer.cpp).

enum class OnnxType { Float, Int8, Uint8, Int32, Int64 };

struct OnnxTensor {
    std::string name;
    OnnxType type = OnnxType::Float;
    std::vector<int64_t> dims;  // empty: a scalar
    std::vector<float> floats;  // OnnxType::Float
    std::vector<int64_t> ints;  // the integer types
};

struct OnnxAttribute {
    enum class Kind { Int, Float, Ints, String } kind = Kind::Int;
    std::string name;
    int64_t i = 0;
    float f = 0;
    std::vector<int64_t> ints;
    std::string s;
};

struct OnnxNode {
    std::string op;  // "Conv", "QuantizeLinear", ...
    std::string name;
    std::vector<std::string> inputs;  // "" for an optional input left out
    std::vector<std::string> outputs;
    std::vector<OnnxAttribute> attributes;
};

struct OnnxValueInfo {
    std::string name;
    std::vector<int64_t> dims;  // -1: the symbolic "batch" dimension
};

struct OnnxModel {
    int opset = 13;
    std::string graphName = "dfq_student";
    std::string producerVersion;
    std::string docString;
    OnnxValueInfo input, output;
    std::vector<OnnxNode> nodes;  // in topological order
    std::vector<OnnxTensor> initializers;
    std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props
};

// The serialized ModelProto, after ONNX's own checker has accepted it. Throws dfq::Error with the
// checker's message otherwise.
std::string serializeOnnx(const OnnxModel& model);

}  // namespace dfq::model
