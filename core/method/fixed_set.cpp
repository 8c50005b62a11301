#include "fixed_set.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../error.h"
#include "../safe_io.h"

namespace dfq::method {

namespace fs = std::filesystem;

void writeFixedSet(const std::string& path, const FixedSet& set, const std::string& modelSha256) {
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    dict.insert("images", set.images.detach().cpu().contiguous());
    dict.insert("labels", set.labels.cpu().contiguous());
    dict.insert("difficulty", set.difficulty.cpu().contiguous());
    dict.insert("model_sha256", modelSha256);
    const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
    io::writeFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

FixedSet readFixedSet(const std::string& path, const std::vector<int64_t>& inputShape,
                      int64_t classes, std::string& modelSha256) {
    const std::string file =
        fs::is_directory(path) ? (fs::path(path) / kFixedSetFile).string() : path;
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error(file +
                    ": cannot read the synthetic set (a run folder of a recipe that makes "
                    "one, or its " +
                    std::string(kFixedSetFile) + ")");
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    FixedSet set;
    try {
        const auto dict = torch::jit::pickle_load(bytes).toGenericDict();
        set.images = dict.at("images").toTensor().to(at::kFloat);
        set.labels = dict.at("labels").toTensor().to(at::kLong);
        set.difficulty = dict.at("difficulty").toTensor().to(at::kFloat);
        modelSha256 = dict.at("model_sha256").toStringRef();
    } catch (const std::exception& e) {
        throw Error(file + ": not a synthetic set the workbench wrote (" + e.what() + ")");
    }
    const int64_t n = set.images.dim() == 4 ? set.images.size(0) : -1;
    std::vector<int64_t> shape;
    if (n > 0)
        shape = set.images.sizes().slice(1).vec();
    if (n <= 0 || shape != inputShape || set.labels.sizes() != at::IntArrayRef{n} ||
        set.difficulty.sizes() != at::IntArrayRef{n})
        throw Error(file + ": a set of images " + c10::str(set.images.sizes()) +
                    ", which does not fit this model's input " +
                    c10::str(at::IntArrayRef(inputShape)));
    if (set.labels.min().item<int64_t>() < 0 || set.labels.max().item<int64_t>() >= classes)
        throw Error(file + ": its labels do not fit this model's " + std::to_string(classes) +
                    " classes");
    return set;
}

at::Tensor ShuffledBatches::next(int64_t n) {
    std::vector<at::Tensor> picks;
    for (int64_t left = n; left > 0;) {
        if (!order_.defined() || cursor_ == size_) {
            order_ = at::randperm(size_, at::kLong);
            cursor_ = 0;
        }
        const int64_t take = std::min(left, size_ - cursor_);
        picks.push_back(order_.narrow(0, cursor_, take));
        cursor_ += take;
        left -= take;
    }
    return at::cat(picks);
}

void ShuffledBatches::restore(const at::Tensor& order, int64_t cursor) {
    if (order.defined() && (order.numel() != size_ || cursor < 0 || cursor > size_))
        throw Error("the checkpoint does not fit this run: a shuffled order of " +
                    std::to_string(order.numel()) + " images for a set of " +
                    std::to_string(size_));
    order_ = order;
    cursor_ = cursor;
}

}  // namespace dfq::method
