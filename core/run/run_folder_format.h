#pragma once

// The run folder's CSV columns (docs/run-folder.md): the one table the writer (RunDirectory)
// takes its headers from and the reader (readRunFolder) finds its columns by. Files with a
// column per layer (bn_match.csv, rounding.csv, alpha.csv, architecture.csv) start with the
// fixed columns below and continue with one column per layer or candidate.
namespace dfq::run::columns {

inline constexpr const char* kMetrics =
    "step,epoch,iteration,g_ce,g_bns,g_loss,s_ce,s_kd,s_loss,student_trained,calibrating,lr_g,"
    "lr_s,it_per_s,g_ms,s_ms";
// Written after kMetrics since SynQ; folders from before lack them (read as 0).
inline constexpr const char* kMetricsLater = "s_cam";
inline constexpr const char* kEval = "epoch,step,top1,top5,best_top1,seconds";
inline constexpr const char* kBnChannels =
    "step,layer,channel,batch_mean,batch_var,running_mean,running_var";
inline constexpr const char* kLayers = "step,source,layer,kind,sqnr_db,bn_mean_mse,bn_var_mse";
inline constexpr const char* kBoundary = "step,a,b,t,p_a,p_b";
inline constexpr const char* kFeatures = "step,kind,label,x,y";
// Fixed leading columns of the per-layer files.
inline constexpr const char* kBnMatchLead = "step";  // then <layer>:mean_mse,<layer>:var_mse
inline constexpr const char* kRoundingLead = "step,overall";  // then one per quantized layer
inline constexpr const char* kAlphaLead = "step,threshold";   // then one per quantized layer
inline constexpr const char* kArchitectureLead = "step,temperature";  // then <edge>:<choice>

}  // namespace dfq::run::columns
