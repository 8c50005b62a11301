#include "augment.h"

#include <ATen/ATen.h>

#include <cmath>

namespace dfq::method {

at::Tensor randomResizedCropFlip(const at::Tensor& x, double minArea) {
    const int64_t b = x.size(0);
    const auto options = at::TensorOptions().dtype(at::kFloat);
    // Crop sides as fractions of the image's: area a, aspect ratio r (log-uniform), w = sqrt(a r),
    // h = sqrt(a / r), each at most the whole side.
    const at::Tensor area = at::empty({b}, options).uniform_(minArea, 1.0);
    const at::Tensor logRatio =
        at::empty({b}, options).uniform_(std::log(3.0 / 4), std::log(4.0 / 3));
    const at::Tensor ratio = logRatio.exp();
    const at::Tensor w = (area * ratio).sqrt().clamp_max(1.0);
    const at::Tensor h = (area / ratio).sqrt().clamp_max(1.0);
    // The crop's centre, anywhere that keeps it inside the image (normalized coordinates).
    const at::Tensor cx = (at::rand({b}, options) * 2 - 1) * (1 - w);
    const at::Tensor cy = (at::rand({b}, options) * 2 - 1) * (1 - h);
    const at::Tensor flip = at::where(at::rand({b}, options) < 0.5, -1.0, 1.0);
    const at::Tensor zero = at::zeros({b}, options);
    const at::Tensor theta =
        at::stack({at::stack({w * flip, zero, cx}, 1), at::stack({zero, h, cy}, 1)}, 1)
            .to(x.device(), x.scalar_type());
    const at::Tensor grid = at::affine_grid_generator(theta, x.sizes(), /*align_corners=*/false);
    // Bilinear, border padding (a crop never leaves the image; the border only guards rounding).
    return at::grid_sampler(x, grid, /*interpolation_mode=*/0, /*padding_mode=*/1,
                            /*align_corners=*/false);
}

}  // namespace dfq::method
