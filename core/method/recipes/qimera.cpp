#include "qimera.h"

#include <ATen/ATen.h>

#include "../../error.h"
#include "../scope_guards.h"

namespace dfq::method {

namespace {

// The latent size: the classifier's input width when there is a classifier.
NetworkOptions qimeraNetwork(const MethodContext& ctx, const QimeraOptions& o) {
    if (o.superposeLabels < 1 || o.superposeProb < 0 || o.superposeProb > 1)
        throw Error("Qimera: the superposition needs K >= 1 labels and a probability in 0..1");
    NetworkOptions n = o.gdfq.network;
    if (ctx.classifier().defined())
        n.latentDim = ctx.classifier().size(1);
    else if (o.embeddingFromClassifier)
        throw Error(ctx.teacherModel().path() +
                    ": Qimera's label embedding starts from the teacher's classifier, but the "
                    "last conv/linear layer does not map features to the " +
                    std::to_string(ctx.classes()) +
                    " classes; use a random embedding (qimera.embedding_init: random)");
    return n;
}

}  // namespace

QimeraRecipe::QimeraRecipe(MethodContext& context, const QimeraOptions& options)
    : GdfqRecipe(context, qimeraNetwork(context, options)), qimera_(options) {
    gen::GdfqGeneratorOptions g = generatorOptions(options.gdfq);
    g.qimera = true;
    g.noiseScale = options.noiseScale;
    g.mappingDim = options.mappingDim;
    g.referenceNormalization = options.referenceNormalization;
    auto generator = std::make_shared<gen::GdfqGeneratorImpl>(g);
    if (options.embeddingFromClassifier)
        generator->setEmbedding(ctx_.classifier().to(at::kFloat));
    setNetwork(generator, generator->parameters());
}

NetworkGeneratorRecipe::Latent QimeraRecipe::drawLatent(int64_t b, at::Generator* rng) const {
    const c10::optional<at::Generator> gen =
        rng ? c10::optional<at::Generator>(*rng) : c10::nullopt;
    const bool superpose =
        qimera_.superposeProb > 0 && at::rand({1}, gen).item<double>() < qimera_.superposeProb;
    if (!superpose)
        return GdfqRecipe::drawLatent(b, rng);
    // K labels per sample, uniform with replacement; weights softmax(N(0, 1)); the soft target
    // sums the weights of repeated labels.
    const int64_t k = qimera_.superposeLabels;
    const int64_t classes = ctx_.classes();
    const c10::Device device = ctx_.device();
    const at::Tensor labels = at::randint(0, classes, {b, k}, gen, at::kLong);
    const at::Tensor weights = at::softmax(at::randn({b, k}, gen), 1);
    Latent in;
    in.z = at::randn({b, k, latentDim()}, gen).to(device);
    in.labels = labels.to(device);
    in.weights = weights.to(device);
    in.targets = at::zeros({b, classes}).scatter_add_(1, labels, weights).to(device);
    return in;
}

std::vector<at::Tensor> QimeraRecipe::boundaryImages(int64_t a, int64_t b,
                                                     const std::vector<double>& t, int64_t samples,
                                                     at::Generator& rng) {
    const BufferRestore keepGenerator(network());
    const c10::Device device = ctx_.device();
    const at::Tensor z = at::randn({samples, 2, latentDim()}, rng).to(device);
    const at::Tensor labels = at::tensor({a, b}, at::kLong).repeat({samples, 1}).to(device);
    std::vector<at::Tensor> out;
    for (const double ti : t) {
        const at::Tensor w =
            at::tensor({static_cast<float>(1 - ti), static_cast<float>(ti)}).repeat({samples, 1});
        out.push_back(network().forward(z, labels, w.to(device)));
    }
    return out;
}

GeneratorEntry qimeraEntry() {
    return {{"qimera", "Qimera",
             "Qimera: GDFQ's generator fed superposed label embeddings, so that a share of the "
             "batches are boundary samples trained against soft targets.",
             "qimera"},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                QimeraOptions o;
                o.gdfq = gdfqOptions(c, ctx.teacherModel().meta().inputShape);
                o.superposeProb = c.qimeraSuperposeProb;
                o.superposeLabels = c.qimeraLabelsPerSample;
                o.embeddingFromClassifier = c.qimeraEmbeddingInit == run::EmbeddingInit::Classifier;
                o.noiseScale = c.qimeraNoiseScale;
                o.mappingDim = c.qimeraMapping ? c.qimeraMappingDim : 0;
                o.referenceNormalization =
                    c.qimeraNormalization == run::EmbeddingNormalization::Reference;
                return std::make_unique<QimeraRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
