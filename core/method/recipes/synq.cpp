#include "synq.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "../../error.h"

namespace dfq::method {

SynqRecipe::SynqRecipe(MethodContext& context, const SynqOptions& options)
    : KdRecipe(context, options.kd), synq_(options) {
    if (!options.cam)
        return;
    const auto& layers = context.teacherModel().graph()->layers();
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        if (it->role == model::LayerRole::Conv && it->index != context.classifierLayer()) {
            camLayer_ = it->index;
            break;
        }
    if (camLayer_ < 0)
        throw Error(
            "synq.cam: the model has no convolution before its classifier for Grad-CAM; "
            "set synq.cam: false");
}

at::Tensor SynqRecipe::lowPass(const at::Tensor& images, double cutoff) {
    const int64_t h = images.size(-2), w = images.size(-1);
    const auto options = at::TensorOptions().dtype(at::kFloat).device(images.device());
    // Integer frequencies in the FFT's own order (0, 1, ..., -1): the same mask SynQ builds on
    // the shifted spectrum.
    const at::Tensor u = at::fft_fftfreq(h, 1.0 / static_cast<double>(h), options).view({h, 1});
    const at::Tensor v = at::fft_fftfreq(w, 1.0 / static_cast<double>(w), options).view({1, w});
    const at::Tensor mask = at::exp(-(u * u + v * v) / (2 * cutoff * cutoff));
    const at::Tensor spectrum = at::fft_fft2(images.to(at::kFloat).contiguous());
    return at::real(at::fft_ifft2(spectrum * mask)).contiguous(images.suggest_memory_format());
}

at::Tensor SynqRecipe::selectiveCe(const at::Tensor& studentLogits, const at::Tensor& teacherLogits,
                                   const at::Tensor& labels, double tau) {
    const at::Tensor p =
        at::softmax(teacherLogits.detach(), 1).gather(1, labels.unsqueeze(1)).squeeze(1);
    const at::Tensor ce =
        at::nll_loss(at::log_softmax(studentLogits, 1), labels, {}, at::Reduction::None);
    return (ce * (p > tau).to(ce.scalar_type())).sum() / static_cast<double>(labels.size(0));
}

at::Tensor SynqRecipe::gradCam(const at::Tensor& logits, const at::Tensor& feature,
                               at::IntArrayRef size, bool keepGraph) {
    const at::Tensor score = logits.gather(1, logits.argmax(1, /*keepdim=*/true)).sum();
    const at::Tensor grad = torch::autograd::grad({score}, {feature}, {}, keepGraph)[0];
    const at::Tensor weights = grad.mean({2, 3}, /*keepdim=*/true).clamp_min(1e-10).detach();
    const at::Tensor f = keepGraph ? feature : feature.detach();
    at::Tensor cam = at::relu((weights * f).sum(1, /*keepdim=*/true));
    cam = at::upsample_bilinear2d(cam, size, /*align_corners=*/false);
    const at::Tensor flat = cam.flatten(1);
    const at::Tensor lo = std::get<0>(flat.min(1, /*keepdim=*/true));
    const at::Tensor hi = std::get<0>(flat.max(1, /*keepdim=*/true));
    return ((flat - lo) / (hi - lo + 1e-10)).view_as(cam);
}

StudentStep SynqRecipe::train(const Synthetic& batch, const at::Tensor& teacherLogits, double lr) {
    at::Tensor x = batch.images.detach();
    at::Tensor targets = teacherLogits;
    if (synq_.lowPass)
        x = lowPass(x, synq_.cutoff);
    at::Tensor teacherCam;
    if (synq_.cam) {
        MethodContext::FeaturePass t = ctx_.teacherFeaturePass(x, camLayer_);
        teacherCam = gradCam(t.logits, t.feature, x.sizes().slice(2), false);
        targets = t.logits.detach();
    } else if (synq_.lowPass) {
        torch::NoGradGuard noGrad;
        targets = ctx_.teacherForward(x).to(x.device());
    }
    StudentStep s;
    at::Tensor logits, cam;
    if (synq_.cam) {
        MethodContext::FeaturePass st = ctx_.studentFeaturePass(x, camLayer_);
        logits = st.logits;
        cam = at::mse_loss(gradCam(logits, st.feature, x.sizes().slice(2), true), teacherCam);
        s.cam = cam;
    } else {
        logits = ctx_.studentLogits(x);
    }
    s.ce = synq_.selectiveCe && !batch.superposed()
               ? selectiveCe(logits, targets, batch.labels, synq_.threshold)
               : MethodContext::crossEntropy(batch, logits);
    s.kd = kdLoss(logits, targets, options_.temperature);
    s.loss = options_.ceWeight * s.ce + options_.kdWeight * s.kd;
    if (cam.defined())
        s.loss = s.loss + synq_.camWeight * cam;
    sgd_.zeroGrad();
    s.loss.backward();
    update(lr);
    return s;
}

StudentEntry synqEntry() {
    using K = RecipeKey;
    return {{"synq",
             "SynQ",
             "SynQ's student: KD with a low-pass filter on the synthetic images, the CE only on "
             "images the teacher is confident of, and the student's Grad-CAM maps aligned with "
             "the teacher's; each term can be switched off (all off: kd).",
             "synq",
             {K::boolean("synq.low_pass", true,
                         "Filter the synthetic images with a Gaussian low-pass before the teacher "
                         "and the student see them."),
              K::number("synq.cutoff", 20, 0.1, 1e4,
                        "The filter's D0 in cycles per image: frequency D keeps exp(-D^2 / "
                        "(2 D0^2)) of its amplitude (at 32 x 32, D0 20 keeps 53 % of the "
                        "highest, 80 keeps 96 %)."),
              K::boolean("synq.selective_ce", true,
                         "Count the CE (weight student.ce_weight) only on images whose class "
                         "the teacher gives more than synq.threshold."),
              K::number("synq.threshold", 0.5, 0, 1,
                        "The teacher's probability an image's class needs for its CE to count."),
              K::boolean("synq.cam", true,
                         "Align the student's Grad-CAM maps at the last convolution with the "
                         "teacher's."),
              K::number("synq.cam_weight", 0.25, 0, 1e6,
                        "Weight of the Grad-CAM alignment (mean squared difference of maps in "
                        "[0, 1]) beside the workbench's KD. SynQ's 50 weighs it against a KD of "
                        "20 x T^2 x KL summed over the classes, 200 times the workbench's "
                        "element-mean T^2 x KL on 10 classes: 50 / 200.")}},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                SynqOptions o;
                o.kd = kdOptions(c);
                o.lowPass = c.recipeFlag("synq.low_pass");
                o.cutoff = c.recipeValue("synq.cutoff");
                o.selectiveCe = c.recipeFlag("synq.selective_ce");
                o.threshold = c.recipeValue("synq.threshold");
                o.cam = c.recipeFlag("synq.cam");
                o.camWeight = c.recipeValue("synq.cam_weight");
                return std::make_unique<SynqRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
