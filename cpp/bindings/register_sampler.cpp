#include <cmath>
#include <string>
#include <tuple>

#include "nnqft/block_tree.hpp"
#include "nnqft/kernels.hpp"
#include "nnqft/sampler.hpp"
#include "pybind11.hpp"

namespace {

using nnqft::BlockTree;
using nnqft::Node;
using nnqft::SampleConfig;
using U64Array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;
using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
// (kind, scale, angle, table, shell) of nnqft::SpectrumSpec, as spectral.py hands it over
using SpectrumArgs = std::tuple<std::string, double, double, std::vector<double>, double>;

SampleConfig make_config(const std::string& activation, int width, int d_in, int depth,
                         std::vector<double> sigma_w, std::vector<double> sigma_b,
                         bool uniform_weights, nnqft::RowMatrix x,
                         std::array<std::uint64_t, 2> key, const std::string& estimator,
                         std::vector<int> degrees, std::vector<double> shift,
                         std::uint64_t block_size, std::uint32_t n_bins,
                         const std::vector<std::tuple<std::vector<double>, std::vector<double>,
                                                      std::vector<double>>>& grid,
                         const std::string& sampler, bool sign_weights,
                         const SpectrumArgs& spectrum, const std::vector<double>& grid_shells) {
    SampleConfig c;
    c.spec.activation = nnqft::activation_from_name(activation);
    c.spec.width = width;
    c.spec.d_in = d_in;
    c.spec.depth = depth;
    c.spec.sigma_w = std::move(sigma_w);
    c.spec.sigma_b = std::move(sigma_b);
    c.spec.uniform_weights = uniform_weights;
    c.spec.sign_weights = sign_weights;
    const auto& [kind, scale, angle, table, shell] = spectrum;
    c.spec.spectrum.kind = nnqft::spectrum_kind_from_name(kind);
    c.spec.spectrum.scale = scale;
    c.spec.spectrum.angle = angle;
    c.spec.spectrum.table = table;
    c.spec.spectrum.shell = shell;
    c.spec.spectrum.dimension = d_in;
    c.spec.sampler = nnqft::sampler_from_name(sampler);
    c.x = std::move(x);
    c.key = key;
    if (estimator == "plain")
        c.estimator = nnqft::Estimator::plain;
    else if (estimator == "conditional")
        c.estimator = nnqft::Estimator::conditional;
    else
        throw std::invalid_argument("estimator must be 'plain' or 'conditional', got '" +
                                    estimator + "'");
    c.degrees = std::move(degrees);
    c.shift = std::move(shift);
    c.block_size = block_size;
    c.n_bins = n_bins;
    if (!grid_shells.empty() && grid_shells.size() != grid.size())
        throw std::invalid_argument("grid_shells needs one shell per grid point");
    for (std::size_t g = 0; g < grid.size(); ++g) {
        const auto& [sw, sb, sh] = grid[g];
        c.grid.push_back(nnqft::GridPoint{sw, sb, sh, grid_shells.empty() ? shell : grid_shells[g]});
    }
    c.validate();
    return c;
}

template <class T, class Array>
nnqft::View<T> view(const Array& a) {
    return {a.data(), static_cast<std::size_t>(a.size())};
}

template <class T>
py::array_t<T> to_array(const std::vector<T>& v) {
    return py::array_t<T>(static_cast<py::ssize_t>(v.size()), v.data());
}

// The core's flat state as numpy arrays (the core checks it on the way back).
py::tuple tree_state(const BlockTree& t) {
    const nnqft::TreeState s = t.state();
    return py::make_tuple(s.n_bins, s.width, to_array(s.levels), to_array(s.indices),
                          to_array(s.counts), to_array(s.sums), to_array(s.tail_lengths),
                          to_array(s.tails));
}

BlockTree tree_from_state(std::uint64_t n_bins, std::uint64_t width, const I64Array& levels,
                          const U64Array& indices, const U64Array& counts,
                          const F64Array& sums, const U64Array& tail_lengths,
                          const F64Array& tails) {
    return BlockTree::from_state(n_bins, width, view<std::int64_t>(levels),
                                 view<std::uint64_t>(indices), view<std::uint64_t>(counts),
                                 view<double>(sums), view<std::uint64_t>(tail_lengths),
                                 view<double>(tails));
}

// The poll of a core run, called on the calling thread between its waits: it takes the
// GIL back, stops the run on a pending signal (Ctrl-C) or when `progress` (None: no
// progress) raises, and then sets `interrupted`: the caller re-raises the Python error
// once the workers have stopped.
nnqft::PollFn python_poll(bool& interrupted, const py::object& progress) {
    return [&interrupted, progress](std::uint64_t done) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            interrupted = true;
            return false;
        }
        if (progress.is_none()) return true;
        try {
            progress(done);
        } catch (py::error_already_set& e) {
            e.restore();
            interrupted = true;
            return false;
        }
        return true;
    };
}

}  // namespace

void register_sampler(py::module_& m) {
    m.attr("CHI_OCTAVES") = nnqft::kernels::kChiOctaves;
    m.attr("CHI_LOWEST_OCTAVE") = nnqft::kernels::kChiLowestOctave;
    py::class_<SampleConfig>(m, "SampleConfig", "Validated sampler configuration.")
        // keyword-only: sixteen positional values of similar types are easy to swap
        .def(py::init(&make_config), py::kw_only(), "activation"_a, "width"_a, "d_in"_a,
             "depth"_a, "sigma_w"_a, "sigma_b"_a, "uniform_weights"_a, "x"_a, "key"_a,
             "estimator"_a, "degrees"_a, "shift"_a, "block_size"_a, "n_bins"_a,
             "grid"_a = std::vector<std::tuple<std::vector<double>, std::vector<double>,
                                               std::vector<double>>>{},
             "sampler"_a = "weights", "sign_weights"_a = false,
             "spectrum"_a = SpectrumArgs{"none", 1.0, 0.0, {}, HUGE_VAL},
             "grid_shells"_a = std::vector<double>{})
        .def_property_readonly("sampler",
                               [](const SampleConfig& c) { return nnqft::sampler_name(c.spec.sampler); });

    py::class_<BlockTree>(m, "BlockTree", "Mergeable per-bin sums over dyadic block ranges.")
        .def(py::init<std::uint32_t, std::size_t>(), "n_bins"_a, "width"_a)
        .def_property_readonly("n_bins", &BlockTree::n_bins)
        .def_property_readonly("width", &BlockTree::width)
        .def_property_readonly("n_networks", &BlockTree::n_networks)
        .def("merge", &BlockTree::merge, "other"_a)
        .def("copy", [](const BlockTree& t) { return BlockTree(t); })
        .def("totals",
             [](const BlockTree& t) {
                 std::vector<std::uint64_t> counts;
                 std::vector<double> sums;
                 t.totals(counts, sums);
                 U64Array c(static_cast<py::ssize_t>(counts.size()), counts.data());
                 F64Array s({static_cast<py::ssize_t>(t.n_bins()),
                             static_cast<py::ssize_t>(t.width())},
                            sums.data());
                 return py::make_tuple(c, s);
             })
        .def("tail",
             [](const BlockTree& t) {
                 const auto v = t.tail();
                 return F64Array(static_cast<py::ssize_t>(v.size()), v.data());
             })
        .def("state", &tree_state)
        .def_static("from_state", &tree_from_state, "n_bins"_a, "width"_a, "levels"_a,
                    "indices"_a, "counts"_a, "sums"_a, "tail_lengths"_a, "tails"_a);

    m.def(
        "sample",
        [](const SampleConfig& config, std::uint64_t start, std::uint64_t count,
           unsigned threads, const py::object& progress) {
            bool interrupted = false;
            const nnqft::PollFn poll = python_poll(interrupted, progress);
            nnqft::SampleResult result{{}, false};
            {
                py::gil_scoped_release release;
                result = nnqft::sample(config, start, count, threads, poll);
            }
            if (interrupted) throw py::error_already_set();
            return py::make_tuple(std::move(result.trees), result.completed);
        },
        "config"_a, "start"_a, "count"_a, "threads"_a, "progress"_a = py::none(),
        "Sample networks [start, start+count): ([BlockTree per grid point], completed).");

    m.def(
        "evaluate",
        [](const SampleConfig& config, const std::vector<std::uint64_t>& ids, unsigned threads) {
            bool interrupted = false;
            const nnqft::PollFn poll = python_poll(interrupted, py::none());
            nnqft::EvaluateResult result{{}, false};
            {
                py::gil_scoped_release release;
                result = nnqft::evaluate_networks(config, ids, threads, poll);
            }
            if (interrupted) throw py::error_already_set();
            return std::move(result.rows);
        },
        "config"_a, "ids"_a, "threads"_a = 1,
        "Per-network observables (outputs or packed kernel), one row each; Ctrl-C stops it "
        "within milliseconds (KeyboardInterrupt).");
}
