#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../analysis/layer_probe.h"
#include "../data/dataset.h"
#include "../data/preprocess.h"
#include "../method/pipeline.h"
#include "../model/model.h"
#include "events.h"
#include "experiment_config.h"

namespace dfq::run {

// The reports a run makes of its pipeline's state, as the events observers receive.

// Up to 64 images of the last batch, denormalized to uint8, with the teacher's top-3.
SampleBatch sampleBatch(const method::Pipeline& g, const model::ModelMeta& meta, int64_t step);
// The BN layers (indices into `bn`) reported per channel: output.bn_channel_layers, else every
// layer when they hold at most 2,048 channels together, else the first and the last. Throws
// dfq::Error for a configured name that is not a BN layer.
std::vector<int> bnChannelLayers(const ExperimentConfig& c,
                                 const std::vector<const model::Layer*>& bn,
                                 const model::ParamStore& params);
// The last batch against the teacher's BN statistics, per layer and per channel of `channelLayers`.
BnMatch bnMatch(const method::Pipeline& g, int64_t step, const std::vector<std::string>& names,
                const std::vector<const model::Layer*>& bn, const std::vector<int>& channelLayers,
                const model::ParamStore& teacher);
// An architecture search's candidate probabilities per edge and its argmax architecture.
ArchitectureStats architectureStats(method::Pipeline& g, int64_t step, double tau);
// The teacher's features of 128 synthetic images (classes cycling), 128 boundary samples when
// the recipe makes them, and the first 128 real images, on their first two principal
// components; the same noise at every call with the same seed. Empty without a classifier.
FeatureMap featureMap(method::Pipeline& g, const std::optional<data::Dataset>& real,
                      const model::ModelMeta& meta, const data::Normalization& norm, int64_t step,
                      uint64_t seed);
LayerStats layerStats(const analysis::LayerProbeResult& r, int64_t step, const char* source);

}  // namespace dfq::run
