#pragma once

#include "../method/gdfq.h"
#include "../model/model.h"
#include "../quant/student_quantizer.h"
#include "experiment_config.h"

namespace dfq::run {

// How an experiment's keys become the core's options: the quantizer, the method (GDFQ with its
// generator and student recipes), and the model's metadata with the experiment's overrides.
quant::QuantConfig quantConfig(const ExperimentConfig& c);
method::GdfqOptions gdfqOptions(const ExperimentConfig& c, const model::ModelMeta& meta);
// The teacher's metadata with model.input_shape, mean, std and num_classes applied. Throws
// dfq::Error when the input shape is still unknown.
model::ModelMeta resolvedMeta(const model::Model& teacher, const ExperimentConfig& c);

}  // namespace dfq::run
