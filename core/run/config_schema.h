#pragma once

// The experiment schema's table and the helpers that read and write it, shared by
// experiment_config.cpp (parsing, YAML, documentation) and config_schema.cpp (the table). Not a
// public header.

#include <yaml-cpp/yaml.h>

#include <limits>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "../method/registry.h"
#include "experiment_config.h"

namespace dfq::run::schema_detail {

using C = ExperimentConfig;
using Field =
    std::variant<int64_t C::*, double C::*, bool C::*, std::string C::*, std::vector<int64_t> C::*,
                 std::vector<double> C::*, std::vector<std::string> C::*,
                 std::map<std::string, int64_t> C::*, DeviceChoice C::*, PrecisionChoice C::*,
                 DataSplit C::*, FirstLastLayers C::*, WeightRange C::*, CalibrationChoice C::*,
                 GeneratorStyle C::*, EmbeddingInit C::*, EmbeddingNormalization C::*,
                 LrDecay C::*>;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct KeySpec {
    const char* key;  // "schedule.epochs"
    Field field;
    std::string doc;
    double min = -kInf;  // numbers and list entries
    double max = kInf;
    std::vector<std::string> choices = {};  // strings
    int listSize = -1;                      // lists: required length, -1 = any
};

// The schema: order here is the order of docs/config.md and of the resolved config.yaml.
const std::vector<KeySpec>& schema();
const KeySpec* findSpec(const std::string& key);
// Every recipe's declared keys, in registry order.
std::vector<const method::RecipeKey*> recipeKeys();
// The schema's keys (and declared keys) below a section ("" = all of them), for error messages.
std::string keysUnder(const std::string& prefix);
// Whole numbers without an exponent: "1000000", not "1e+06".
std::string number(double v);
std::string rangeText(const KeySpec& s);
// A double or list-of-doubles default with the fewest significant digits that give it back
// exactly ("0.9"); empty for other keys.
std::string shortDoubles(const C& c, const KeySpec& s);
// The key's value in `c` as a YAML node.
YAML::Node valueNode(const C& c, const KeySpec& s);

}  // namespace dfq::run::schema_detail
