// A lower bound for one GDFQ iteration at the paper's CIFAR ResNet-20 shape on this machine: the
// convolutions alone, each timed by itself with LibTorch's own kernels, forward and the backward
// parts the iteration needs. Whatever else an iteration does (BatchNorm, activations, fake
// quantization, losses, the optimizers) comes on top, so no LibTorch implementation of the
// iteration as the reference writes it can be faster than this sum on this CPU. (The workbench's
// generator computes its two convolutions after an upsampling at the low resolution, with 16
// instead of 36 multiply-adds per output: work this floor still counts at the reference's size.)
//
//   bench_floor [--batch N] [--repeats N]
//
// Per iteration: the generator's convolutions forward and backward (input and weight gradients),
// the teacher's forward and its input gradient (its weights are frozen), and the student's forward
// and backward (weight gradients, and input gradients past its first layer). Each convolution is
// timed in NCHW and in channels-last memory format; the floor takes the faster of the two.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/runtime.h"

using dfq::bench::median;

namespace {

struct Conv {
    int64_t in, out, kernel, stride, size;  // size: the input's height and width
};

// GDFQ's CIFAR generator: 128 -> 128 at 16x16, 128 -> 64 and 64 -> 3 at 32x32.
const std::vector<Conv> kGenerator = {{128, 128, 3, 1, 16}, {128, 64, 3, 1, 32}, {64, 3, 3, 1, 32}};

// CIFAR ResNet-20 with 1x1 projection shortcuts: conv1, three stages of three basic blocks.
std::vector<Conv> resnet20() {
    std::vector<Conv> convs = {{3, 16, 3, 1, 32}};
    int64_t channels = 16, size = 32;
    for (int stage = 0; stage < 3; ++stage) {
        const int64_t out = 16 << stage;
        for (int block = 0; block < 3; ++block) {
            const int64_t stride = (stage > 0 && block == 0) ? 2 : 1;
            convs.push_back({channels, out, 3, stride, size});
            const int64_t next = size / stride;
            convs.push_back({out, out, 3, 1, next});
            if (stride != 1 || channels != out)
                convs.push_back({channels, out, 1, stride, size});
            channels = out;
            size = next;
        }
    }
    return convs;
}

struct Timing {
    double ms = 0;
    double gflop = 0;
};

// Median milliseconds of the forward pass and of the backward pass with the given gradients.
Timing timeConv(const Conv& c, int64_t batch, bool inputGrad, bool weightGrad, int repeats,
                at::MemoryFormat format) {
    const at::Tensor x = at::randn({batch, c.in, c.size, c.size}).contiguous(format);
    const at::Tensor w = (at::randn({c.out, c.in, c.kernel, c.kernel}) * 0.1).contiguous(format);
    const at::Tensor b = at::zeros({c.out});
    const int64_t pad = c.kernel / 2;
    auto forward = [&] { return at::conv2d(x, w, b, {c.stride, c.stride}, {pad, pad}); };
    const at::Tensor y = forward();
    const at::Tensor gy = at::randn_like(y).contiguous(format);
    std::vector<double> fwd, bwd;
    for (int r = 0; r < repeats + 1; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        forward();
        auto t1 = std::chrono::steady_clock::now();
        if (inputGrad || weightGrad)
            at::convolution_backward(gy, x, w, at::IntArrayRef{c.out}, {c.stride, c.stride},
                                     {pad, pad}, {1, 1}, false, {0, 0}, 1,
                                     {inputGrad, weightGrad, weightGrad});
        auto t2 = std::chrono::steady_clock::now();
        if (r == 0)
            continue;  // warm-up
        fwd.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        bwd.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    const double macs =
        static_cast<double>(batch) * y.size(2) * y.size(3) * c.out * c.in * c.kernel * c.kernel;
    Timing t;
    t.ms = median(fwd) + median(bwd);
    t.gflop = 2e-9 * macs * (1 + inputGrad + weightGrad);
    return t;
}

struct PartTiming {
    Timing nchw, channelsLast, best;  // best: the faster format of each convolution
};

PartTiming part(const std::vector<Conv>& convs, int64_t batch, bool studentLike, bool weightGrad,
                int repeats) {
    PartTiming sum;
    for (size_t i = 0; i < convs.size(); ++i) {
        // The student's first layer needs no input gradient; the teacher's and the generator's
        // do (the generator's loss flows back to the images and through every layer).
        const bool inputGrad = !(studentLike && i == 0);
        const Timing a =
            timeConv(convs[i], batch, inputGrad, weightGrad, repeats, at::MemoryFormat::Contiguous);
        const Timing b = timeConv(convs[i], batch, inputGrad, weightGrad, repeats,
                                  at::MemoryFormat::ChannelsLast);
        const Timing& best = a.ms <= b.ms ? a : b;
        for (auto [total, t] : {std::pair<Timing*, const Timing*>{&sum.nchw, &a},
                                {&sum.channelsLast, &b},
                                {&sum.best, &best}}) {
            total->ms += t->ms;
            total->gflop += t->gflop;
        }
    }
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    int64_t batch = 200;
    int repeats = 5;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--batch") == 0)
            batch = std::atoll(argv[i + 1]);
        if (std::strcmp(argv[i], "--repeats") == 0)
            repeats = std::atoi(argv[i + 1]);
    }
    const int threads = dfq::initRuntime();
    at::NoGradGuard noGrad;
    std::printf(
        "%s, %d threads; convolutions of one GDFQ iteration at batch %lld, each timed "
        "alone (median of %d)\n\n",
        dfq::versionString().c_str(), threads, static_cast<long long>(batch), repeats);
    const std::vector<Conv> net = resnet20();
    const PartTiming g = part(kGenerator, batch, false, true, repeats);
    const PartTiming t = part(net, batch, false, false, repeats);
    const PartTiming s = part(net, batch, true, true, repeats);
    std::printf("%-40s %9s %9s %9s %8s %8s\n", "part", "NCHW ms", "NHWC ms", "best ms", "GFLOP",
                "GFLOP/s");
    auto row = [](const char* name, const PartTiming& x) {
        std::printf("%-40s %9.1f %9.1f %9.1f %8.1f %8.1f\n", name, x.nchw.ms, x.channelsLast.ms,
                    x.best.ms, x.best.gflop, x.best.gflop / x.best.ms * 1e3);
    };
    row("generator convs, forward + backward", g);
    row("teacher convs, forward + input gradient", t);
    row("student convs, forward + backward", s);
    PartTiming all;
    for (const PartTiming* p : {&g, &t, &s})
        for (auto [total, x] : {std::pair<Timing*, const Timing*>{&all.nchw, &p->nchw},
                                {&all.channelsLast, &p->channelsLast},
                                {&all.best, &p->best}}) {
            total->ms += x->ms;
            total->gflop += x->gflop;
        }
    row("all convolutions (the floor: best ms)", all);
    return 0;
}
