#pragma once

#include "gdfq.h"

namespace dfq::method {

// Qimera's generator recipe (docs/methods.md, `qimera`): GDFQ's generator fed superposed label
// embeddings. With probability superposeProb a batch is made of boundary samples, each superposing
// superposeLabels labels with softmax(N(0, 1)) weights and trained against the mixture as a
// soft target. The label embedding has the width of the teacher's classifier input (the latent
// size when the teacher has no classifier to read it from) and starts from the classifier's
// weights or N(0, 1).
struct QimeraOptions {
    GdfqOptions gdfq;
    double superposeProb = 0.4;
    int64_t superposeLabels = 2;
    bool embeddingFromClassifier = true;
    double noiseScale = 1.0;
    int64_t mappingDim = 100;  // the disentanglement mapping; 0: off (the released scripts)
    bool referenceNormalization = false;
};

class QimeraRecipe : public GdfqRecipe {
  public:
    QimeraRecipe(MethodContext& context, const QimeraOptions& options);
    Latent drawLatent(int64_t batch, at::Generator* rng) const override;
    bool boundarySamples() const override { return true; }
    std::vector<at::Tensor> boundaryImages(int64_t a, int64_t b, const std::vector<double>& t,
                                           int64_t samples, at::Generator& rng) override;

  private:
    QimeraOptions qimera_;
};

GeneratorEntry qimeraEntry();

}  // namespace dfq::method
