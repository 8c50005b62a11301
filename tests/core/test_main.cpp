#include <gtest/gtest.h>

#include "core/runtime.h"

int main(int argc, char** argv) {
    dfq::initRuntime();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
