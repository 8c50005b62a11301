#pragma once

#include "kd.h"

namespace dfq::method {

// SynQ's student (Kim et al., ICLR 2025; docs/methods.md): the KD student with three terms for
// synthetic data, each of which can be switched off (all off, it is the `kd` recipe exactly):
//  - a Gaussian low-pass filter on the synthetic images, which the teacher and the student
//    then both see (synthetic images carry high-frequency noise real ones do not);
//  - the CE only on the images the teacher finds confident (its probability of the image's
//    class above a threshold), so that hard or mislabelled ones are learned from the teacher's
//    soft targets alone;
//  - Grad-CAM alignment: the mean squared difference between the teacher's and the student's
//    class activation maps at the last convolution, normalized to [0, 1] per image.
struct SynqOptions {
    KdOptions kd;
    bool lowPass = true;
    double cutoff = 20;  // D0 of the filter exp(-D^2 / (2 D0^2)), D the frequency's radius
    bool selectiveCe = true;
    double threshold = 0.5;  // tau: the CE counts images the teacher gives p > tau
    bool cam = true;
    double camWeight = 0.25;  // SynQ's 50, on the workbench's KD scale (10 classes)
};

class SynqRecipe : public KdRecipe {
  public:
    SynqRecipe(MethodContext& context, const SynqOptions& options);
    StudentStep train(const Synthetic& batch, const at::Tensor& teacherLogits, double lr) override;

    // The images with their spatial frequencies weighted by exp(-D^2 / (2 cutoff^2)), D the
    // distance of (u, v) from the zero frequency in cycles per image.
    static at::Tensor lowPass(const at::Tensor& images, double cutoff);
    // (1 / B) sum over the images whose teacher probability of their label exceeds tau of their
    // CE: the others add nothing, not even to the count.
    static at::Tensor selectiveCe(const at::Tensor& studentLogits, const at::Tensor& teacherLogits,
                                  const at::Tensor& labels, double tau);
    // Grad-CAM of the predicted class (the argmax of logits) at `feature` [B, K, h, w]: ReLU of
    // the channels weighted by their gradient's spatial mean (clamped above 0, as SynQ does),
    // resized to size x size and scaled to [0, 1] per image. The weights are constants; with
    // keepGraph the map keeps `feature`'s graph (the student's), else it is detached.
    static at::Tensor gradCam(const at::Tensor& logits, const at::Tensor& feature,
                              at::IntArrayRef size, bool keepGraph);

  private:
    SynqOptions synq_;
    int camLayer_ = -1;  // the last convolution before the classifier
};

StudentEntry synqEntry();

}  // namespace dfq::method
