// The run-folder reader (what the window shows a run folder with): a folder of small valid
// files in which the input replaces one file (its first byte picks which).
#include "core/run/run_folder_reader.h"
#include "fuzz_common.h"

namespace {

const char* const kFiles[] = {"metrics.csv",     "eval.csv",     "bn_match.csv", "bn_channels.csv",
                              "rounding.csv",    "alpha.csv",    "layers.csv",   "boundary.csv",
                              "features.csv",    "summary.json", "config.yaml",  "architecture.csv",
                              "architecture.txt"};

void writeText(const std::string& name, const std::string& text) {
    dfq::fuzz::writeScratch("run/" + name, reinterpret_cast<const uint8_t*>(text.data()),
                            text.size());
}

void writeValidFolder() {
    writeText("config.yaml", "name: fuzz\nmodel: {path: demo}\n");
    writeText("metrics.csv",
              "step,epoch,iteration,g_ce,g_bns,g_loss,s_ce,s_kd,s_loss,student_trained,"
              "calibrating,lr_g,lr_s,it_per_s,g_ms,s_ms\n0,0,0,2.3,1,3,0,0,0,0,1,0.001,0,5,10,0\n"
              "1,0,1,2.1,0.9,2.8,1,1,2,1,0,0.001,0.0001,5,10,3\n");
    writeText("eval.csv", "epoch,step,top1,top5,best_top1,seconds\nfp,-1,90,,,\n0,1,80,99,80,1\n");
    writeText("bn_match.csv", "step,bn1:mean_mse,bn1:var_mse\n0,0.5,0.25\n");
    writeText(
        "bn_channels.csv",
        "step,layer,channel,batch_mean,batch_var,running_mean,running_var\n0,bn1,0,0.1,1,0,1\n");
    writeText("rounding.csv", "step,overall,conv1\n1,0.01,0.02\n");
    writeText("alpha.csv", "step,threshold,conv1\n1,0.5,1.2\n");
    writeText("layers.csv",
              "step,source,layer,kind,sqnr_db,bn_mean_mse,bn_var_mse\n"
              "0,synthetic,conv1,weight,20,,\n0,synthetic,bn1,bn,,0.1,0.2\n");
    writeText("boundary.csv", "step,a,b,t,p_a,p_b\n0,0,1,0.5,0.4,0.6\n");
    writeText("features.csv", "step,kind,label,x,y\n0,0,1,0.5,0.25\n");
    writeText("architecture.csv", "step,temperature,c1 op2:dil5\n0,5,0.2\n");
    writeText("architecture.txt", "c1 op2:dil5\n");
    writeText("summary.json", "{\"fp_top1\":90,\"status\":\"finished\",\"iterations\":2}\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    writeValidFolder();
    if (size > 0) {
        const std::string name = kFiles[data[0] % (sizeof kFiles / sizeof *kFiles)];
        dfq::fuzz::writeScratch("run/" + name, data + 1, size - 1);
    }
    try {
        dfq::run::readRunFolder(dfq::fuzz::scratch() + "/run");
    } catch (const std::exception&) {
    }
    return 0;
}
