#include "run_setup.h"

#include "../device.h"
#include "../error.h"

namespace dfq::run {

quant::QuantConfig quantConfig(const ExperimentConfig& c) {
    quant::QuantConfig q;
    q.weightBits = static_cast<int>(c.quantWeightBits);
    q.activationBits = static_cast<int>(c.quantActivationBits);
    q.perChannelWeights = c.quantPerChannel;
    q.symmetric = c.quantSymmetric;
    q.firstLast = c.quantFirstLast == "8bit" ? quant::QuantConfig::FirstLast::EightBit
                  : c.quantFirstLast == "fp" ? quant::QuantConfig::FirstLast::FullPrecision
                                             : quant::QuantConfig::FirstLast::Quantized;
    for (const auto& [path, bits] : c.quantLayerBits)
        q.weightBitsOverride[path] = static_cast<int>(bits);
    q.referenceEmaInflation = c.quantReferenceEmaInflation;
    q.activationMomentum = c.quantActivationMomentum;
    q.mseWeightRange = c.quantWeightRange == "mse";
    return q;
}

method::GdfqOptions gdfqOptions(const ExperimentConfig& c, const model::ModelMeta& meta) {
    method::GdfqOptions o;
    o.quant = quantConfig(c);
    o.device = resolveDevice(c.device);
    o.batchSize = c.generatorBatchSize;
    o.latentDim = c.generatorLatentDim;
    o.generatorChannels = c.generatorChannels;
    o.imagenetStyle = c.generatorStyle == "imagenet" ||
                      (c.generatorStyle == "auto" &&
                       gen::GdfqGeneratorImpl::defaultImagenetStyle(meta.inputShape));
    o.adamBeta1 = c.generatorBetas.at(0);
    o.adamBeta2 = c.generatorBetas.at(1);
    o.momentum = c.studentMomentum;
    o.weightDecay = c.studentWeightDecay;
    o.temperature = c.studentTemperature;
    o.kdWeight = c.studentKdWeight;
    o.ceWeight = c.studentCeWeight;
    if (c.methodStudent == "ait") {
        o.gradientInundation = true;
        o.ceWeight = 0;
        o.weightDecay = 0;
        o.alphaSearch.threshold = c.studentPassingThreshold;
        o.alphaSearch.bisections = static_cast<int>(c.studentAlphaIter);
    }
    o.bnsWeight = c.generatorBnsWeight;
    if (c.methodGenerator == "qimera") {
        o.qimera = true;
        o.superposeProb = c.qimeraSuperposeProb;
        o.superposeLabels = c.qimeraLabelsPerSample;
        o.embeddingFromClassifier = c.qimeraEmbeddingInit == "classifier";
        o.noiseScale = c.qimeraNoiseScale;
        o.mappingDim = c.qimeraMapping ? c.qimeraMappingDim : 0;
        o.referenceNormalization = c.qimeraNormalization == "reference";
    }
    if (c.methodGenerator == "autorecon") {
        o.autorecon = true;
        o.autoreconSearch = c.autoreconArchitecture == "search";
        if (!o.autoreconSearch)
            o.autoreconArch = gen::AutoReconArch::parse(c.autoreconArchitecture);
        o.autoreconChannels = c.autoreconChannels;
    }
    return o;
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
    const auto split = c.dataSplit == "train" ? data::Split::Train : data::Split::Test;
    data::Dataset d = data::loadDataset(c.resolvedDataPath(), split, meta.inputShape);
    note = data::checkImageSize(d, meta.inputShape, c.dataResize, "data.resize: true");
    if (c.dataLimit > 0 && c.dataLimit < d.size()) {
        d.images = d.images.narrow(0, 0, c.dataLimit);
        d.labels = d.labels.narrow(0, 0, c.dataLimit);
    }
    return d;
}

}  // namespace dfq::run
