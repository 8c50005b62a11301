// The only translation unit that sees ONNX's protobuf classes (and no LibTorch header: both ship
// their own view of ONNX).
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "../error.h"
#include "onnx_model.h"

namespace dfq::model {

namespace {

int32_t dataType(OnnxType t) {
    switch (t) {
        case OnnxType::Float:
            return onnx::TensorProto::FLOAT;
        case OnnxType::Int8:
            return onnx::TensorProto::INT8;
        case OnnxType::Uint8:
            return onnx::TensorProto::UINT8;
        case OnnxType::Int32:
            return onnx::TensorProto::INT32;
        case OnnxType::Int64:
            return onnx::TensorProto::INT64;
    }
    return onnx::TensorProto::UNDEFINED;
}

void fillTensor(const OnnxTensor& t, onnx::TensorProto* p) {
    p->set_name(t.name);
    p->set_data_type(dataType(t.type));
    int64_t count = 1;
    for (int64_t d : t.dims) {
        p->add_dims(d);
        count *= d;
    }
    const size_t n = t.type == OnnxType::Float ? t.floats.size() : t.ints.size();
    if (static_cast<int64_t>(n) != count)
        throw Error("ONNX export: tensor " + t.name + " has " + std::to_string(n) + " values for " +
                    std::to_string(count) + " elements");
    // Raw little-endian bytes: the compact form every runtime reads.
    std::string raw;
    auto put = [&](const void* v, size_t bytes) { raw.append(static_cast<const char*>(v), bytes); };
    for (size_t i = 0; i < n; ++i) {
        switch (t.type) {
            case OnnxType::Float:
                put(&t.floats[i], 4);
                break;
            case OnnxType::Int8: {
                const auto v = static_cast<int8_t>(t.ints[i]);
                put(&v, 1);
                break;
            }
            case OnnxType::Uint8: {
                const auto v = static_cast<uint8_t>(t.ints[i]);
                put(&v, 1);
                break;
            }
            case OnnxType::Int32: {
                const auto v = static_cast<int32_t>(t.ints[i]);
                put(&v, 4);
                break;
            }
            case OnnxType::Int64:
                put(&t.ints[i], 8);
                break;
        }
    }
    p->set_raw_data(raw);
}

void fillValueInfo(const OnnxValueInfo& v, onnx::ValueInfoProto* p) {
    p->set_name(v.name);
    auto* type = p->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = type->mutable_shape();
    for (int64_t d : v.dims) {
        auto* dim = shape->add_dim();
        if (d < 0)
            dim->set_dim_param("batch");
        else
            dim->set_dim_value(d);
    }
}

}  // namespace

std::string serializeOnnx(const OnnxModel& m) {
    onnx::ModelProto model;
    model.set_ir_version(onnx::IR_VERSION);  // IR 8: opsets up to 17
    model.set_producer_name("dfq-workbench");
    model.set_producer_version(m.producerVersion);
    model.set_doc_string(m.docString);
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(m.opset);
    for (const auto& [key, value] : m.metadata) {
        auto* prop = model.add_metadata_props();
        prop->set_key(key);
        prop->set_value(value);
    }
    auto* g = model.mutable_graph();
    g->set_name(m.graphName);
    fillValueInfo(m.input, g->add_input());
    fillValueInfo(m.output, g->add_output());
    for (const auto& t : m.initializers)
        fillTensor(t, g->add_initializer());
    for (const auto& n : m.nodes) {
        auto* p = g->add_node();
        p->set_op_type(n.op);
        p->set_name(n.name);
        for (const auto& i : n.inputs)
            p->add_input(i);
        for (const auto& o : n.outputs)
            p->add_output(o);
        for (const auto& a : n.attributes) {
            auto* attr = p->add_attribute();
            attr->set_name(a.name);
            switch (a.kind) {
                case OnnxAttribute::Kind::Int:
                    attr->set_type(onnx::AttributeProto::INT);
                    attr->set_i(a.i);
                    break;
                case OnnxAttribute::Kind::Float:
                    attr->set_type(onnx::AttributeProto::FLOAT);
                    attr->set_f(a.f);
                    break;
                case OnnxAttribute::Kind::Ints:
                    attr->set_type(onnx::AttributeProto::INTS);
                    for (int64_t v : a.ints)
                        attr->add_ints(v);
                    break;
                case OnnxAttribute::Kind::String:
                    attr->set_type(onnx::AttributeProto::STRING);
                    attr->set_s(a.s);
                    break;
            }
        }
    }
    try {
        onnx::checker::check_model(model);
    } catch (const std::exception& e) {
        throw Error(std::string("ONNX export: the ONNX checker refuses the model: ") + e.what());
    }
    std::string bytes;
    if (!model.SerializeToString(&bytes))
        throw Error("ONNX export: the model could not be serialized (over 2 GB?)");
    return bytes;
}

}  // namespace dfq::model
