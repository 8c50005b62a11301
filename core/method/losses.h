#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "../model/interpreter.h"

namespace dfq::method {

// How well one batch matches the teacher's BatchNorm statistics, per BN layer.
struct BnsLoss {
    at::Tensor loss;     // (1/L) sum_l [mean_c (mu - mu^)^2 + mean_c (var - var^)^2]
    at::Tensor meanMse;  // [L], detached: per BN layer mean_c (mu - mu^)^2
    at::Tensor varMse;   // [L], detached: per BN layer mean_c (var - var^)^2
};

// GDFQ's BNS loss over every BatchNorm layer of the teacher: the batch statistics recorded by the
// interpreter's BN probe against the layers' running statistics. Throws dfq::Error when the
// model has no BatchNorm layer.
BnsLoss bnsLoss(const model::Graph& graph, const model::ParamStore& teacher,
                const std::vector<model::BnBatchStats>& stats);

// mean_b ( -sum_c t_bc log_softmax(logits)_bc ): cross-entropy against soft targets.
at::Tensor softCrossEntropy(const at::Tensor& logits, const at::Tensor& targets);

// Knowledge distillation as the reference computes it: T^2 * KLDivLoss(reduction='mean') of
// log_softmax(student/T) against softmax(teacher/T), i.e. the KL summed over every element and
// divided by batch x classes. The teacher's logits are taken as constants.
at::Tensor kdLoss(const at::Tensor& studentLogits, const at::Tensor& teacherLogits,
                  double temperature);

}  // namespace dfq::method
