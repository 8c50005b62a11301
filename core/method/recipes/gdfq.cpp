#include "gdfq.h"

namespace dfq::method {

GdfqRecipe::GdfqRecipe(MethodContext& context, const NetworkOptions& network)
    : NetworkGeneratorRecipe(context, network) {}

GdfqRecipe::GdfqRecipe(MethodContext& context, const GdfqOptions& options)
    : NetworkGeneratorRecipe(context, options.network) {
    auto g = std::make_shared<gen::GdfqGeneratorImpl>(generatorOptions(options));
    setNetwork(g, g->parameters());
}

gen::GdfqGeneratorOptions GdfqRecipe::generatorOptions(const GdfqOptions& options) const {
    gen::GdfqGeneratorOptions g;
    g.outputShape = ctx_.teacherModel().meta().inputShape;
    g.classes = ctx_.classes();
    g.latentDim = options_.latentDim;
    g.channels = options.channels;
    g.imagenetStyle = options.imagenetStyle;
    return g;
}

GdfqOptions gdfqOptions(const run::ExperimentConfig& c, const std::vector<int64_t>& inputShape) {
    GdfqOptions o;
    o.network = networkOptions(c);
    o.channels = c.generatorChannels;
    o.imagenetStyle = c.generatorStyle == run::GeneratorStyle::Imagenet ||
                      (c.generatorStyle == run::GeneratorStyle::Auto &&
                       gen::GdfqGeneratorImpl::defaultImagenetStyle(inputShape));
    return o;
}

GeneratorEntry gdfqEntry() {
    return {{"gdfq", "GDFQ", "GDFQ's conditional generator on CE + BNS.", ""},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                return std::make_unique<GdfqRecipe>(
                    ctx, gdfqOptions(c, ctx.teacherModel().meta().inputShape));
            }};
}

}  // namespace dfq::method
