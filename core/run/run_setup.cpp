#include "run_setup.h"

#include "../device.h"
#include "../error.h"
#include "../method/recipe.h"
#include "../method/registry.h"
#include "../precision.h"

namespace dfq::run {

quant::QuantConfig quantConfig(const ExperimentConfig& c) {
    quant::QuantConfig q;
    q.weightBits = static_cast<int>(c.quantWeightBits);
    q.activationBits = static_cast<int>(c.quantActivationBits);
    q.perChannelWeights = c.quantPerChannel;
    q.symmetric = c.quantSymmetric;
    using FirstLast = quant::QuantConfig::FirstLast;
    switch (c.quantFirstLast) {
        case FirstLastLayers::Quantized:
            q.firstLast = FirstLast::Quantized;
            break;
        case FirstLastLayers::EightBit:
            q.firstLast = FirstLast::EightBit;
            break;
        case FirstLastLayers::FullPrecision:
            q.firstLast = FirstLast::FullPrecision;
            break;
    }
    for (const auto& [path, bits] : c.quantLayerBits)
        q.weightBitsOverride[path] = static_cast<int>(bits);
    q.referenceEmaInflation = c.quantReferenceEmaInflation;
    q.activationMomentum = c.quantActivationMomentum;
    q.mseWeightRange = c.quantWeightRange == WeightRange::Mse;
    return q;
}

quant::Calibration calibration(const ExperimentConfig& c) {
    switch (c.quantCalibration) {
        case CalibrationChoice::MinMax:
            return quant::Calibration::MinMax;
        case CalibrationChoice::Mse:
            return quant::Calibration::Mse;
        case CalibrationChoice::Ema:
            break;
    }
    return quant::Calibration::Ema;
}

std::unique_ptr<method::Pipeline> makePipeline(const model::Model& teacher,
                                               const ExperimentConfig& c) {
    const c10::Device device = resolveDevice(choiceName(c.device));
    auto context = std::make_unique<method::MethodContext>(teacher, quantConfig(c), device,
                                                           c.generatorBatchSize);
    context->setComputeType(computeType(choiceName(c.precision), device));
    auto student = method::makeStudentRecipe(*context, c);
    auto generator = method::makeGeneratorRecipe(*context, c);
    auto pipeline = std::make_unique<method::Pipeline>(std::move(context), std::move(generator),
                                                       std::move(student));
    pipeline->setWeightAverage(c.studentEma);
    return pipeline;
}

model::ModelMeta resolvedMeta(const model::Model& teacher, const ExperimentConfig& c) {
    model::ModelMeta meta = teacher.meta();
    if (!c.modelInputShape.empty())
        meta.inputShape = c.modelInputShape;
    if (!c.modelMean.empty())
        meta.mean = c.modelMean;
    if (!c.modelStd.empty())
        meta.std = c.modelStd;
    if (c.modelNumClasses > 0)
        meta.numClasses = c.modelNumClasses;
    if (!meta.hasInputShape())
        throw Error(teacher.path() + ": the input shape is unknown; give model.input_shape");
    return meta;
}

data::Dataset loadEvalData(const ExperimentConfig& c, const model::ModelMeta& meta,
                           std::string& note) {
    const auto split = c.dataSplit == DataSplit::Train ? data::Split::Train : data::Split::Test;
    data::Dataset d = data::loadDataset(c.resolvedDataPath(), split, meta.inputShape);
    note = data::checkImageSize(d, meta.inputShape, c.dataResize, "data.resize: true");
    return data::selectImages(d, c.dataOffset, c.dataStride, c.dataLimit);
}

}  // namespace dfq::run
