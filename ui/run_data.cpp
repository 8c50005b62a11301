#include "run_data.h"

#include "core/run/run_folder_reader.h"

namespace dfq::ui {

std::vector<run::LayerStats> readLayersCsv(const QString& path) {
    return run::readLayersCsv(path.toStdString());
}

RunData readRunFolder(const QString& folder) {
    run::RunRecord r = run::readRunFolder(folder.toStdString());
    RunData d;
    d.folder = folder;
    d.configYaml = QString::fromStdString(r.configYaml);
    d.iterations = std::move(r.iterations);
    d.evals = std::move(r.evals);
    d.fpTop1 = r.fpTop1;
    d.ptqTop1 = r.ptqTop1;
    d.firstBn = std::move(r.firstBn);
    d.lastBn = std::move(r.lastBn);
    d.rounding = std::move(r.rounding);
    d.architecture = std::move(r.architecture);
    d.derivedArchitecture = QString::fromStdString(r.derivedArchitecture);
    d.boundary = std::move(r.boundary);
    d.features = std::move(r.features);
    d.layers = std::move(r.layers);
    d.analysis = std::move(r.analysis);
    if (!r.sampleGridPath.empty() && d.sampleGrid.load(QString::fromStdString(r.sampleGridPath)))
        d.sampleGridStep = r.sampleGridStep;
    d.summary = std::move(r.summary);
    return d;
}

}  // namespace dfq::ui
