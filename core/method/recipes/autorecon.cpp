#include "autorecon.h"

#include <cmath>

#include "../../error.h"
#include "../registry_entry.h"

namespace dfq::method {

AutoReconRecipe::AutoReconRecipe(MethodContext& context, const AutoReconOptions& options)
    : NetworkGeneratorRecipe(context, options.network), options_(options) {
    build(nullptr);
}

void AutoReconRecipe::build(const gen::AutoReconArch* derived) {
    archAdam_.reset();
    gen::AutoReconGeneratorOptions a;
    a.outputShape = ctx_.teacherModel().meta().inputShape;
    a.classes = ctx_.classes();
    a.latentDim = latentDim();
    a.channels = options_.channels;
    a.search = options_.search && !derived;
    a.arch = derived ? *derived : options_.arch;
    autorecon_ = std::make_shared<gen::AutoReconGeneratorImpl>(a);
    if (a.search)
        archAdam_ = std::make_unique<torch::optim::Adam>(
            autorecon_->archParameters(),
            torch::optim::AdamOptions(1e-3).betas(
                {options_.network.adamBeta1, options_.network.adamBeta2}));
    setNetwork(autorecon_, autorecon_->weightParameters());
}

std::string AutoReconRecipe::architecture() const {
    return autorecon_->derived().toString();
}

double AutoReconRecipe::temperature(int64_t epoch) const {
    return options_.temperature * std::exp(-options_.temperatureDecay * epoch);
}

GeneratorStep AutoReconRecipe::searchStep(double lr, int64_t epoch) {
    if (!searching())
        throw Error("the AutoReCon architecture search has ended (or this run does not search)");
    autorecon_->setTemperature(temperature(epoch));
    // Weight step on a training batch.
    GeneratorStep w = pass(drawLatent(ctx_.batchSize(), nullptr));
    setLr(adam(), lr);
    adam().zero_grad();
    archAdam_->zero_grad();
    w.loss.backward();
    adam().step();
    // Architecture step on a fresh validation batch.
    const GeneratorStep a = pass(drawLatent(ctx_.batchSize(), nullptr));
    setLr(*archAdam_, options_.archLr);
    adam().zero_grad();
    archAdam_->zero_grad();
    a.loss.backward();
    archAdam_->step();
    return w;
}

std::string AutoReconRecipe::derive() {
    const gen::AutoReconArch arch = autorecon_->derived();
    if (searching())
        build(&arch);
    return arch.toString();
}

std::array<at::Tensor, 3> AutoReconRecipe::probabilities() const {
    return searching() ? autorecon_->probabilities() : std::array<at::Tensor, 3>{};
}

void AutoReconRecipe::save(torch::serialize::OutputArchive& archive) const {
    NetworkGeneratorRecipe::save(archive);
    // Whether the search was still on, and the architecture searched or in use.
    archive.write("autorecon_search", c10::IValue(searching()));
    archive.write("autorecon_arch", c10::IValue(architecture()));
    if (searching()) {
        torch::serialize::OutputArchive arch;
        archAdam_->save(arch);
        archive.write("arch_adam", arch);
    }
}

void AutoReconRecipe::load(torch::serialize::InputArchive& archive) {
    c10::IValue search, arch;
    if (!archive.try_read("autorecon_search", search) || !archive.try_read("autorecon_arch", arch))
        throw Error("the checkpoint does not fit this run: it has no AutoReCon generator");
    if (searching() && !search.toBool()) {
        const gen::AutoReconArch derived = gen::AutoReconArch::parse(arch.toStringRef());
        build(&derived);
    }
    if (searching()) {
        torch::serialize::InputArchive archAdam;
        archive.read("arch_adam", archAdam);
        archAdam_->load(archAdam);
    }
    NetworkGeneratorRecipe::load(archive);
}

GeneratorEntry autoreconEntry() {
    return {{"autorecon", "AutoReCon",
             "AutoReCon's cell generator with a derived or searched architecture, trained like "
             "GDFQ's.",
             "autorecon"},
            [](MethodContext& ctx, const run::ExperimentConfig& c) {
                AutoReconOptions o;
                o.network = networkOptions(c);
                o.search = c.autoreconArchitecture == "search";
                if (!o.search)
                    o.arch = gen::AutoReconArch::parse(c.autoreconArchitecture);
                o.channels = c.autoreconChannels;
                o.searchEpochs = c.autoreconSearchEpochs;
                o.temperature = c.autoreconTemperature;
                o.temperatureDecay = c.autoreconTemperatureDecay;
                o.archLr = c.autoreconArchLr;
                return std::make_unique<AutoReconRecipe>(ctx, o);
            }};
}

}  // namespace dfq::method
