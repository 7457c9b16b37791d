// The instruction set the CPU loops run (cpu_dispatch.h), and the ops that show and set it:
// opbench::cpu_isas() -> str[] (those this CPU runs, best first), cpu_isa() -> str, set_cpu_isa(str).
#include <torch/library.h>

#include <atomic>
#include <string>
#include <vector>

#include "cpu_dispatch.h"

namespace opbench {
namespace {

struct Isa {
  const char* name;
  bool supported;
};

const std::vector<Isa>& isas() {
#define OPBENCH_ISA_ENTRY(isa, supported) Isa{#isa, static_cast<bool>(supported)},
  static const std::vector<Isa> all = {OPBENCH_CPU_ISAS(OPBENCH_ISA_ENTRY)};
#undef OPBENCH_ISA_ENTRY
  return all;
}

int best_supported() {
  int index = 0;
  while (!isas()[index].supported) {
    ++index;  // the last, scalar, always is
  }
  return index;
}

std::atomic<int>& selected() {
  static std::atomic<int> index{best_supported()};
  return index;
}

std::vector<std::string> cpu_isas() {
  std::vector<std::string> names;
  for (const Isa& isa : isas()) {
    if (isa.supported) {
      names.emplace_back(isa.name);
    }
  }
  return names;
}

std::string cpu_isa() { return isas()[selected().load()].name; }

void set_cpu_isa(const std::string& name) {
  for (int index = 0; index < static_cast<int>(isas().size()); ++index) {
    if (name == isas()[index].name && isas()[index].supported) {
      selected().store(index);
      return;
    }
  }
  std::string supported;
  for (const std::string& isa : cpu_isas()) {
    supported += (supported.empty() ? "" : ", ") + isa;
  }
  TORCH_CHECK(false, "'", name, "' is not an instruction set this CPU runs the loops in (it runs: ", supported, ")");
}

}  // namespace

int selected_cpu_isa() { return selected().load(std::memory_order_relaxed); }

TORCH_LIBRARY_FRAGMENT(opbench, m) {
  m.def("cpu_isas() -> str[]", &cpu_isas);
  m.def("cpu_isa() -> str", &cpu_isa);
  m.def("set_cpu_isa(str isa) -> ()", &set_cpu_isa);
}

}  // namespace opbench
