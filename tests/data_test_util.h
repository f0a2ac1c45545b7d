// Helpers of the dataset tests: writing bytes to a file in a TempDir (tests/temp_dir.h) and the
// check on reader errors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tests/temp_dir.h"

namespace ptq::test {

inline void write_bytes(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

// Runs read and expects a DatasetError whose message names file and contains phrase.
inline void expect_dataset_error(const std::function<void()>& read,
                                 const std::filesystem::path& file, const std::string& phrase) {
  try {
    read();
    ADD_FAILURE() << "no DatasetError; expected one naming " << file << " with '" << phrase << "'";
  } catch (const DatasetError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file.string()), std::string::npos) << what;
    EXPECT_NE(what.find(phrase), std::string::npos) << what;
  }
}

}  // namespace ptq::test
