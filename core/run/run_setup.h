#pragma once

#include <memory>
#include "../data/dataset.h"

#include "../method/pipeline.h"
#include "../model/model.h"
#include "../quant/calibration.h"
#include "../quant/student_quantizer.h"
#include "experiment_config.h"

namespace dfq::run {

// How an experiment's keys become the core's objects: the quantizer, the method (the generator
// and student recipes the registry builds on a shared context), and the model's metadata with
// the experiment's overrides.
quant::QuantConfig quantConfig(const ExperimentConfig& c);
// quant.calibration as the quantizer's protocol.
quant::Calibration calibration(const ExperimentConfig& c);
// `teacher` (with its resolved metadata) must outlive the pipeline.
std::unique_ptr<method::Pipeline> makePipeline(const model::Model& teacher,
                                               const ExperimentConfig& c);
// The teacher's metadata with model.input_shape, mean, std and num_classes applied. Throws
// dfq::Error when the input shape is still unknown.
model::ModelMeta resolvedMeta(const model::Model& teacher, const ExperimentConfig& c);

// The experiment's evaluation data (data.path, data.split, data.limit), its image size checked
// against the model's input (data::checkImageSize with data.resize); `note` gets what was resized.
data::Dataset loadEvalData(const ExperimentConfig& c, const model::ModelMeta& meta,
                           std::string& note);

}  // namespace dfq::run
