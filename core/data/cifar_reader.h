#pragma once

#include <string>
#include <vector>

#include "dataset.h"

namespace dfq::data {

enum class CifarKind { Cifar10, Cifar100 };

// The kind of a CIFAR binary batch, from its name (test.bin / train.bin are CIFAR-100,
// test_batch.bin / data_batch_N.bin CIFAR-10), else from which record size divides its size.
CifarKind cifarKindOf(const std::string& file);

// Reads CIFAR binary batches (records of the label byte(s) and 3x32x32 CHW pixels) into one
// dataset; for CIFAR-100, whose records hold the coarse then the fine label, the fine label.
// Class names come from batches.meta.txt / fine_label_names.txt beside the first file.
Dataset readCifar(const std::vector<std::string>& files, CifarKind kind);

}  // namespace dfq::data
