#include "nnqft/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "nnqft/errors.hpp"
#include "nnqft/kernels.hpp"

namespace nnqft {

namespace {
constexpr double kPi = 3.141592653589793238462643383279502884;
constexpr std::size_t kMaxBlocks = std::size_t{1} << 32;  // counter word 0 is 32 bits
// Neurons of one chunk of a layer's matrix product are a multiple of this: 24 is a
// multiple of every row tile of Eigen's double product kernels (mr = 3 packets of 1, 2,
// 4 or 8 doubles; GEMV groups of 1, 2, 4 or 8 rows).
constexpr Eigen::Index kProductChunk = 24;
// Multiply-adds between two looks at the stop flag in the products and Gram sums:
// milliseconds (a whole Gram matrix took seconds at k = 40 inputs and width 10^7).
constexpr std::size_t kChunkWork = std::size_t{1} << 24;

// Ask for transparent huge pages on a large scratch buffer (Linux; elsewhere a no-op):
// gigabytes in 4 KiB pages cost seconds of page faults to touch and to free (freeing
// 6 GB took 1-2 s after a Ctrl-C), in 2 MiB pages a fraction of that. numpy does the same.
void advise_huge_pages(const void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t kHuge = std::uintptr_t{1} << 21;
    if (bytes < 4 * kHuge) return;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)data;
    (void)bytes;
#endif
}

kernels::Func func_of(Activation a) {
    switch (a) {
        case Activation::erf: return kernels::Func::erf;
        case Activation::relu: return kernels::Func::relu;
        case Activation::tanh: return kernels::Func::tanh;
        case Activation::linear: return kernels::Func::identity;
        case Activation::gauss: return kernels::Func::exp;
        case Activation::cos: return kernels::Func::cos;
    }
    throw std::invalid_argument("unknown activation");
}

// The stream id (Philox counter word 1 since stream version 2): one per (layer, purpose);
// the radii of a spectral first layer have their own range, far above any layer's.
constexpr std::uint64_t kRadiiStream = 0xFFFF0000U;
std::uint64_t stream_id(int layer, Purpose p) {
    if (p == Purpose::radii) return kRadiiStream + static_cast<std::uint64_t>(layer);
    return 2 * static_cast<std::uint64_t>(layer) + static_cast<std::uint64_t>(p);
}

// Where a stream is cached: weights/biases by layer, then one slot for the radii.
std::size_t stream_slot(int layer, Purpose p, int depth) {
    if (p == Purpose::radii) return 2 * (static_cast<std::size_t>(depth) + 1);
    return static_cast<std::size_t>(stream_id(layer, p));
}

void require_non_decreasing(const std::vector<double>& table, const char* what) {
    for (std::size_t j = 1; j < table.size(); ++j)
        require(table[j] >= table[j - 1], "the ", what, " must be non-decreasing");
}

}  // namespace

Activation activation_from_name(const std::string& name) {
    for (int i = 0; i <= static_cast<int>(Activation::cos); ++i)
        if (name == activation_name(static_cast<Activation>(i)))
            return static_cast<Activation>(i);
    throw std::invalid_argument("unknown activation '" + name +
                                "' (expected erf, relu, tanh, linear, gauss or cos)");
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::erf: return "erf";
        case Activation::relu: return "relu";
        case Activation::tanh: return "tanh";
        case Activation::linear: return "linear";
        case Activation::gauss: return "gauss";
        case Activation::cos: return "cos";
    }
    return "?";
}

Sampler sampler_from_name(const std::string& name) {
    if (name == "weights") return Sampler::weights;
    if (name == "gram") return Sampler::gram;
    throw std::invalid_argument("unknown sampler '" + name + "' (expected weights or gram)");
}

const char* sampler_name(Sampler s) { return s == Sampler::gram ? "gram" : "weights"; }

SpectrumSpec::Kind spectrum_kind_from_name(const std::string& name) {
    if (name == "none") return SpectrumSpec::Kind::none;
    if (name == "gaussian") return SpectrumSpec::Kind::gaussian;
    if (name == "cauchy") return SpectrumSpec::Kind::cauchy;
    if (name == "table") return SpectrumSpec::Kind::table;
    if (name == "chi") return SpectrumSpec::Kind::chi;
    throw std::invalid_argument("unknown spectrum kind '" + name +
                                "' (expected none, gaussian, cauchy, table or chi)");
}

void SpectrumSpec::validate(int d_in) const {
    require(!std::isnan(shell) && shell > 0, "the spectral shell must be > 0, got ", shell);
    if (kind == Kind::none) return;
    require(std::isfinite(scale) && scale > 0, "the spectrum's scale must be finite and > 0, got ",
            scale);
    if (kind == Kind::cauchy) {
        require(d_in == 1, "the cauchy spectrum is one-dimensional, got d_in = ", d_in);
        require(angle > 0 && angle <= kPi / 2, "the cauchy angle must be in (0, pi/2], got ",
                angle);
    }
    if (kind == Kind::table) {
        require(d_in == 1, "a radius table is for d = 1 (d >= 2: chi), got d_in = ", d_in);
        require(table.size() >= 2, "the radius table needs >= 2 values, got ", table.size());
        require(table.front() >= 0 && table.back() < 1,
                "the radius table holds compactified radii in [0, 1)");
        require_non_decreasing(table, "radius table");
    }
    if (kind == Kind::chi) {
        require(dimension == d_in, "the chi table is for d = ", dimension, ", not d_in = ",
                d_in);
        require(d_in >= 2 && d_in <= 4, "a chi table is for d = 2..4, got d = ", d_in);
        const std::size_t per_octave = table.size() / kernels::kChiOctaves;
        require(table.size() == kernels::kChiOctaves * per_octave + 1 && per_octave >= 1 &&
                    (per_octave & (per_octave - 1)) == 0,
                "the chi table needs 32 K + 1 values, K a power of two, got ", table.size());
        for (const double h : table)
            require(std::isfinite(h) && h >= 0, "the chi table holds finite H >= 0, got ", h);
    }
}

double SpectrumSpec::radius(double u) const {
    require(kind == Kind::cauchy || kind == Kind::table,
            "radius(u) is for the cauchy and table kinds (chi radii come from the normals)");
    if (kind == Kind::cauchy) return scale * std::tan(u * angle);
    table_radii(&u, 1);
    return u;
}

void SpectrumSpec::table_radii(double* u, std::size_t n) const {
    kernels::table_radii(u, table.data(), table.size(), scale, u, n);
}

void NetworkSpec::validate() const {
    require(width >= 1, "width must be >= 1, got ", width);
    require(d_in >= 1, "d_in must be >= 1, got ", d_in);
    require(depth >= 1, "depth must be >= 1, got ", depth);
    const auto n = static_cast<std::size_t>(depth) + 1;
    require(sigma_w.size() == n, "sigma_w needs depth + 1 = ", n, " values, got ",
            sigma_w.size());
    require(sigma_b.size() == n, "sigma_b needs depth + 1 = ", n, " values, got ",
            sigma_b.size());
    for (double s : sigma_w)
        require(std::isfinite(s) && s >= 0, "sigma_w must be finite and >= 0, got ", s);
    for (double s : sigma_b)
        require(std::isfinite(s) && s >= 0, "sigma_b must be finite and >= 0, got ", s);
    const bool first_layer_only =
        activation == Activation::gauss || activation == Activation::cos;
    require(!first_layer_only || depth == 1, "activation '", activation_name(activation),
            "' is defined for depth 1 only, got depth ", depth);
    require(sampler != Sampler::gram || !(uniform_weights || sign_weights),
            "the gram sampler needs Gaussian weights (with uniform or sign weights W h is "
            "not Gaussian at finite width); use the weights sampler");
    require(!(uniform_weights && sign_weights), "weights are uniform or sign, not both");
    require(!spectrum.spectral() || activation == Activation::cos,
            "a frequency spectrum needs the cos activation, got ", activation_name(activation));
    spectrum.validate(d_in);
}

Evaluator::Evaluator(const NetworkSpec& spec, const RowMatrix& x, const Key& key)
    : spec_(spec), x_(x), key_(key) {
    spec_.validate();
    require(x_.cols() == spec_.d_in, "x must have d_in = ", spec_.d_in,
            " columns, got ", x_.cols());
    require(x_.rows() >= 1, "x must hold at least one input");
    streams_.resize(2 * (static_cast<std::size_t>(spec_.depth) + 1) + 1);
    update_gauss_shift();
}

void Evaluator::update_gauss_shift() {
    const double sw0 = spec_.sigma_w[0], sb0 = spec_.sigma_b[0];
    gauss_shift_ = (sb0 * sb0 + (sw0 * sw0 / spec_.d_in) * x_.rowwise().squaredNorm().array())
                       .matrix();
}

void Evaluator::set_sigmas(const std::vector<double>& sigma_w,
                           const std::vector<double>& sigma_b) {
    // Called per network and grid point: validated once by the caller, no reallocation.
    if (sigma_w != spec_.sigma_w || sigma_b != spec_.sigma_b) spectral_net_ = kNoNetwork;
    spec_.sigma_w.assign(sigma_w.begin(), sigma_w.end());
    spec_.sigma_b.assign(sigma_b.begin(), sigma_b.end());
    update_gauss_shift();
}

std::size_t Evaluator::observable_size(Estimator e) const {
    return nnqft::observable_size(e, static_cast<std::size_t>(x_.rows()));
}

void Evaluator::check_stop() const {
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) throw StopRequested();
}

template <class F>
void Evaluator::by_neuron_chunks(std::size_t cost, std::size_t align, F&& f) const {
    const auto n = static_cast<std::size_t>(spec_.width);
    const std::size_t per_chunk = kChunkWork / (std::max<std::size_t>(1, cost) * align);
    const std::size_t cols = align * std::max<std::size_t>(1, per_chunk);
    for (std::size_t j0 = 0; j0 < n; j0 += cols) {
        check_stop();
        f(j0, std::min(n, j0 + cols));
    }
}

Evaluator::Stream& Evaluator::stream(std::uint64_t net, int layer, Purpose p, std::size_t n,
                                     bool normals) {
    Stream& s = streams_[stream_slot(layer, p, spec_.depth)];
    // A Philox4x32 block gives four normals or two uniforms (stream version 3).
    const std::size_t per_block = normals ? 4 : 2;
    const std::size_t n_blocks = (n + per_block - 1) / per_block;
    require(n_blocks <= kMaxBlocks,
            "a stream holds at most 2^34 normals or 2^33 uniforms, asked for ", n);
    if (s.net == net && s.gaussian == normals && s.n_blocks >= n_blocks) return s;
    // Drawn in chunks (bit-identical: counter word 0 is the block number) so that a stop
    // request is seen; the stream counts as cached only once complete.
    s.net = ~std::uint64_t{0};
    // Reserved, then grown chunk by chunk as it is drawn: zero-filling gigabytes at once
    // took seconds without a look at the stop flag.
    if (normals) {
        s.normals.clear();
        s.normals.reserve(4 * n_blocks);
        advise_huge_pages(s.normals.data(), s.normals.capacity() * sizeof(double));
    } else {
        s.bits.clear();
        s.bits.reserve(2 * n_blocks);
        advise_huge_pages(s.bits.data(), s.bits.capacity() * sizeof(std::uint64_t));
    }
    constexpr std::size_t chunk = kStopChunk / 4;
    for (std::size_t b = 0; b < n_blocks; b += chunk) {
        check_stop();
        const std::size_t end = std::min(b + chunk, n_blocks);
        if (normals)
            s.normals.resize(4 * end);
        else
            s.bits.resize(2 * end);
        // Counter (block, stream id, net low, net high) under the seed's first 64 bits.
        const Counter32 first{static_cast<u32>(b), static_cast<u32>(stream_id(layer, p)),
                              static_cast<u32>(net), static_cast<u32>(net >> 32)};
        const std::size_t m = end - b;
        if (normals)
            kernels::philox_normals(stream_key(key_), first, m, s.normals.data() + 4 * b);
        else
            kernels::philox_stream(stream_key(key_), first, m, s.bits.data() + 2 * b);
    }
    s.net = net;
    s.gaussian = normals;
    s.n_blocks = n_blocks;
    return s;
}

Evaluator::Dist Evaluator::weight_dist() const {
    if (spec_.uniform_weights) return Dist::uniform;
    return spec_.sign_weights ? Dist::sign : Dist::gaussian;
}

void Evaluator::draw(std::uint64_t net, int layer, Purpose p, std::size_t n, double scale,
                     Dist dist, double* out) {
    const Stream& s = stream(net, layer, p, n, dist == Dist::gaussian);
    if (dist == Dist::sign) {  // +-scale: the top bit of each word
        for (std::size_t i = 0; i < n; ++i) out[i] = (s.bits[i] >> 63) != 0U ? -scale : scale;
        return;
    }
    if (dist == Dist::uniform) {
        // zero mean and variance scale^2: uniform on (-sqrt(3) scale, sqrt(3) scale)
        const double half = std::sqrt(3.0) * scale;
        kernels::uniforms(s.bits.data(), -half, half, out, n);
        return;
    }
    for (std::size_t i0 = 0; i0 < n; i0 += kStopChunk) {
        check_stop();
        for (std::size_t i = i0; i < std::min(n, i0 + kStopChunk); ++i) out[i] = scale * s.normals[i];
    }
}

void Evaluator::draw_phase(std::uint64_t net) {
    const auto n = static_cast<std::size_t>(spec_.width);
    const Stream& s = stream(net, 0, Purpose::biases, n, false);
    kernels::uniforms(s.bits.data(), -kPi, kPi, b_.data(), n);
}

void Evaluator::spectral_frequencies(std::uint64_t net) {
    // w_ holds unit normals g_i (N x d; not drawn at d = 1 but for gaussian); p_i =
    // sigma_w0 |q_i| g_i / |g_i|; radii_ (|q_i|) only where shells need them. Simple
    // loops over the neurons, one job each, so that the compiler vectorises them.
    const SpectrumSpec& sp = spec_.spectrum;
    const auto n = static_cast<std::size_t>(spec_.width);
    const auto d = static_cast<std::size_t>(spec_.d_in);
    const double sw0 = spec_.sigma_w[0];
    double* w = w_.data();
    radii_.resize(n);
    double* radii = radii_.data();
    const bool need_radii = shell_grid_ || sp.shell < std::numeric_limits<double>::infinity();
    if (sp.kind == SpectrumSpec::Kind::gaussian) {
        // q = (sigma / sqrt d) g; scaled as the plain cos-net scales W0 (same bits at sigma 1)
        const double unit = sp.scale / std::sqrt(static_cast<double>(d));
        const double scale = sw0 * sp.scale / std::sqrt(static_cast<double>(d));
        for (std::size_t i = 0; need_radii && i < n; ++i) {
            double norm2 = 0.0;
            for (std::size_t c = 0; c < d; ++c) norm2 += w[i * d + c] * w[i * d + c];
            radii[i] = unit * std::sqrt(norm2);
        }
        for (std::size_t j = 0; j < n * d; ++j) w[j] *= scale;
        return;
    }
    if (sp.kind == SpectrumSpec::Kind::chi) {  // no radii stream: H(|g|^2) g
        kernels::chi_frequencies(w, d, sp.table.data(), sp.table.size(), sw0,
                                 need_radii ? radii : nullptr, n);
        return;
    }
    const Stream& s = stream(net, 0, Purpose::radii, n, false);
    check_stop();
    if (sp.kind == SpectrumSpec::Kind::cauchy) {  // m tan(u angle)
        kernels::cauchy_radii(s.bits.data(), sp.angle, sp.scale, radii, n);
    } else {
        kernels::uniforms(s.bits.data(), 0.0, 1.0, radii, n);
        sp.table_radii(radii, n);
    }
    check_stop();
    // d = 1 (cauchy, table): the direction is a sign, bit 0 of the radius's word
    kernels::signed_frequencies(s.bits.data(), radii, sw0, w, n);
}

void Evaluator::apply_shell() {
    const double shell = spec_.spectrum.shell;
    if (!(shell < std::numeric_limits<double>::infinity())) return;
    const auto n = static_cast<std::size_t>(spec_.width);
    for (Eigen::Index a = 0; a < h_.rows(); ++a) {  // h_ is row-major: walk each row
        double* row = h_.row(a).data();
        // a select, not a branch: the radii are random, a branch on them mispredicts
        for (std::size_t i = 0; i < n; ++i) row[i] = radii_[i] >= shell ? 0.0 : row[i];
    }
}

void Evaluator::activate() {
    // Element-wise: chunks (to poll the stop) change nothing.
    const auto size = static_cast<std::size_t>(z_.size());
    for (std::size_t i0 = 0; i0 < size; i0 += kStopChunk) {
        check_stop();
        kernels::apply(func_of(spec_.activation), z_.data() + i0, h_.data() + i0,
                       std::min(kStopChunk, size - i0));
    }
}

void Evaluator::first_layer() {
    // Row by row, so that each input's pre-activations are still in L1 when activated:
    // z_a = W0 x_a + b0, one input coordinate at a time (vectorised over neurons).
    const auto n = static_cast<std::size_t>(spec_.width);
    const auto d = static_cast<std::size_t>(spec_.d_in);
    const bool gauss = spec_.activation == Activation::gauss;
    // Element-wise, so cutting the neurons into chunks (to poll the stop) changes nothing.
    for (Eigen::Index a = 0; a < x_.rows(); ++a) {
        for (std::size_t j0 = 0; j0 < n; j0 += kStopChunk) {
            check_stop();
            const std::size_t m = std::min(kStopChunk, n - j0);
            double* z = z_.row(a).data() + j0;
            const double* w = w_.data() + j0 * d;
            kernels::affine(x_(a, 0), w, d, b_.data() + j0, z, m);
            for (std::size_t i = 1; i < d; ++i)
                kernels::affine(x_(a, static_cast<Eigen::Index>(i)), w + i, d, z, z, m);
            if (gauss)  // exp(z - Var z): unit-mean neurons
                for (std::size_t j = 0; j < m; ++j) z[j] -= gauss_shift_[a];
            kernels::apply(func_of(spec_.activation), z, h_.row(a).data() + j0, m);
        }
    }
}

void Evaluator::hidden_layers(std::uint64_t net) {
    const int n = spec_.width;
    const auto k = x_.rows();
    z_.resize(k, n);
    h_.resize(k, n);
    // k x N each (gigabytes at k = 40, N = 10^7): huge pages, or freeing them after a
    // stop request alone took ~0.4 s
    advise_huge_pages(z_.data(), static_cast<std::size_t>(z_.size()) * sizeof(double));
    advise_huge_pages(h_.data(), static_cast<std::size_t>(h_.size()) * sizeof(double));
    b_.resize(n);
    for (int layer = 0; layer < spec_.depth; ++layer) {
        if (layer > 0 && spec_.sampler == Sampler::gram)
            gram_layer(net, layer);
        else
            weights_layer(net, layer);
    }
}

void Evaluator::weights_layer(std::uint64_t net, int layer) {
    const int fan_in = spec_.fan_in(layer);
    w_.resize(spec_.width, fan_in);
    advise_huge_pages(w_.data(), static_cast<std::size_t>(w_.size()) * sizeof(double));
    const bool spectral = layer == 0 && spec_.spectrum.spectral();
    if (!spectral)
        draw(net, layer, Purpose::weights, w_.size(), spec_.sigma_w[layer] / std::sqrt(fan_in),
             weight_dist(), w_.data());
    else if (!sign_directions())  // unit normals: the directions (and gaussian radii)
        draw(net, layer, Purpose::weights, w_.size(), 1.0, Dist::gaussian, w_.data());
    // (with sign directions spectral_frequencies writes every frequency from the radii)
    if (spec_.activation == Activation::cos && layer == 0) {
        draw_phase(net);
    } else {
        draw(net, layer, Purpose::biases, b_.size(), spec_.sigma_b[layer], Dist::gaussian,
             b_.data());
    }
    if (spectral) spectral_frequencies(net);
    if (layer == 0) {
        first_layer();
        if (spectral && shell_grid_) {  // kept whole for the next shell of this network
            spectral_h_ = h_;
            spectral_net_ = net;
        }
        if (spectral) apply_shell();
    } else {
        // z = h W^T in chunks of neurons, each ~2^24 multiply-adds (milliseconds), so
        // that a stop request is seen within one (one product took seconds at width
        // 2 10^4). Chunks start at multiples of kProductChunk, a multiple of every
        // register tile of Eigen's kernels, and Eigen's depth blocking depends on the
        // fan-in only: each neuron's sum runs in the same order as in one whole
        // product, so the bits do not change (checked against the unchunked product).
        by_neuron_chunks(static_cast<std::size_t>(x_.rows()) * static_cast<std::size_t>(fan_in),
                         static_cast<std::size_t>(kProductChunk),
                         [&](std::size_t j0, std::size_t j1) {
                             const auto a = static_cast<Eigen::Index>(j0);
                             const auto m = static_cast<Eigen::Index>(j1 - j0);
                             z_.middleCols(a, m).noalias() = h_ * w_.middleRows(a, m).transpose();
                         });
        z_.rowwise() += b_.transpose();
        activate();
    }
}

void Evaluator::gram_layer(std::uint64_t net, int layer) {
    // G of the previous layer, then z_i = A xi_i.
    const auto k = static_cast<std::size_t>(x_.rows());
    const auto n = static_cast<std::size_t>(spec_.width);
    packed_.resize(nnqft::observable_size(Estimator::conditional, k));
    empirical_kernel(layer, packed_.data());
    kernel_.resize(x_.rows(), x_.rows());
    for (std::size_t a = 0, t = 0; a < k; ++a)
        for (std::size_t b = a; b < k; ++b, ++t) {
            const auto ia = static_cast<Eigen::Index>(a), ib = static_cast<Eigen::Index>(b);
            kernel_(ia, ib) = kernel_(ib, ia) = packed_[t];
        }
    check_stop();
    const auto r = static_cast<std::size_t>(factor_.compute(kernel_));
    // unit normals, used in place: cached per network, so a sigma grid redraws nothing
    const double* xi = stream(net, layer, Purpose::weights, r * n, true).normals.data();
    coefficients_ = factor_.factor();  // row-major for the kernel
    // Columns from a multiple of kCombineAlign on are computed as in one call: the same bits.
    by_neuron_chunks(k * r, kernels::kCombineAlign, [&](std::size_t j0, std::size_t j1) {
        kernels::combine(coefficients_.data(), k, r, factor_.order().data(), xi + j0, n,
                         j1 - j0, z_.data() + j0);
    });
    activate();
}

double Evaluator::evaluate(std::uint64_t net, Estimator e, double* out) {
    if (shell_grid_ && spec_.spectrum.spectral() && net == spectral_net_) {
        // another shell of the same spectral network: only the mask changes
        h_ = spectral_h_;
        apply_shell();
    } else {
        hidden_layers(net);
    }
    check_stop();
    const int L = spec_.depth;
    const double sw = spec_.sigma_w[L], sb = spec_.sigma_b[L];
    const auto k = x_.rows();
    const double factor = sw * sw / spec_.width, shift = sb * sb;
    if (e == Estimator::plain) {
        const int n = spec_.width;
        w_out_.resize(n);
        draw(net, L, Purpose::weights, n, sw / std::sqrt(double(n)), weight_dist(),
             w_out_.data());
        double b_out = 0.0;
        draw(net, L, Purpose::biases, 1, sb, Dist::gaussian, &b_out);
        // in chunks of neurons carrying the partial sums: the bits of one whole call
        const auto kk = static_cast<std::size_t>(k);
        lanes_.assign(kernels::kLanes * 2 * kk, 0.0);
        by_neuron_chunks(2 * kk, kernels::kLanes, [&](std::size_t j0, std::size_t j1) {
            kernels::dot_norms_lanes(h_.data(), kk, w_out_.data(), static_cast<std::size_t>(n),
                                     j0, j1, lanes_.data());
        });
        dot_norms_.resize(2 * kk);
        kernels::lane_sums(lanes_.data(), 2 * kk, dot_norms_.data());
        double max_norm = 0.0;
        for (Eigen::Index a = 0; a < k; ++a) {
            out[a] = dot_norms_[2 * a] + b_out;
            max_norm = std::max(max_norm, dot_norms_[2 * a + 1]);
        }
        return shift + factor * max_norm;
    }
    // C: the empirical kernel of the read-out layer
    const auto kk = static_cast<std::size_t>(k);
    empirical_kernel(L, out);
    double max_diag = 0.0;
    for (std::size_t a = 0, t = 0; a < kk; t += kk - a, ++a) max_diag = std::max(max_diag, out[t]);
    return max_diag;
}

void Evaluator::empirical_kernel(int layer, double* packed) {
    // sigma_b^2 + (sigma_w^2 / N) h h^T of the last activations, packed a <= b row by
    // row; h h^T in chunks of neurons carrying the partial sums (the bits of one call)
    const auto k = static_cast<std::size_t>(x_.rows());
    const std::size_t size = nnqft::observable_size(Estimator::conditional, k);
    lanes_.assign(kernels::kLanes * size, 0.0);
    by_neuron_chunks(size, kernels::kLanes, [&](std::size_t j0, std::size_t j1) {
        kernels::gram_lanes(h_.data(), k, static_cast<std::size_t>(spec_.width), j0, j1,
                            lanes_.data());
    });
    kernels::lane_sums(lanes_.data(), size, packed);
    const double sw = spec_.sigma_w[layer], sb = spec_.sigma_b[layer];
    const double factor = sw * sw / spec_.width, shift = sb * sb;
    for (std::size_t t = 0; t < size; ++t) packed[t] = shift + factor * packed[t];
}

}  // namespace nnqft
