/// @file network.hpp
/// Random fully connected networks addressed by index: network i draws every parameter
/// from Philox4x32-10 streams with counter (block, stream, i mod 2^32, i >> 32) under
/// the seed's first 64 bits (stream version 3, philox.hpp): draw j of a Gaussian stream
/// is normal j of kernels::normals (four per block), of a uniform stream word j (two
/// per block). So it is the same network on any thread, process or machine
/// (design.md "Determinism").
///
/// Conventions (design.md): depth L hidden layers of width N, z^(0) = W0 x + b0,
/// z^(l+1) = W^(l) phi(z^(l)) + b^(l), scalar linear read-out. A weight of a layer with
/// fan-in n has standard deviation sigma_w / sqrt(n); biases sigma_b. "uniform" weights
/// are uniform with zero mean and the same variance; the cos-net phase b0 is uniform on
/// (-pi, pi).
///
/// Samplers (design.md "Samplers"): `weights` draws every parameter; `gram` (Gaussian
/// weights only) draws the hidden layers after the first by the Gram chain
/// (physics-deep.md §1): given layer l - 1, the rows z_i of layer l (i = 0..N-1, one
/// entry per input) are i.i.d. N(0, G) with G = sigma_b^2 + (sigma_w^2 / N) h h^T, so
/// z_i = A xi_i with A A^T = G (PsdFactor, rank r) and xi_i ~ N(0, I_r). Stream layout:
/// such a layer draws no weights or biases; xi_i[s] is unit normal s N + i of the
/// layer's (layer, weights) stream (s < r), so the normals used are always a prefix of
/// one fixed stream, and a change of rank along a sigma grid keeps the normals of the
/// leading components (common random numbers stay common). The first layer and the plain estimator's read-out are drawn
/// explicitly on both paths. Results are equal in distribution, not bit-identical,
/// across samplers.
#pragma once

#include <Eigen/Core>
#include <atomic>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "nnqft/activation.hpp"
#include "nnqft/philox.hpp"
#include "nnqft/psd_factor.hpp"

namespace nnqft {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// How a network's hidden layers after the first are drawn.
enum class Sampler : int {
    weights = 0,  ///< every weight and bias (any weight distribution); ~N^2 k per layer
    gram = 1,     ///< the Gram chain (Gaussian weights only); ~N k^2 per layer
};

Sampler sampler_from_name(const std::string& name);
const char* sampler_name(Sampler s);

/// The frequency law of a spectral cos-net (activation cos, depth 1): neuron i's
/// frequency is p_i = sigma_w0 |q_i| n_i with n_i an isotropic unit vector (its unit
/// normals from the layer-0 weights stream, normalised) and the radius |q_i| from the
/// kind's law; a uniform u_i for it is bits 11-63 of word i of the layer-0 `radii`
/// stream. At d = 1 (kinds other than gaussian) n_i is the sign -1 if bit 0 of that
/// word is set, +1 otherwise, and no normals are drawn.
/// `none` is the plain cos-net (W0 Gaussian with sigma_w0 / sqrt(d_in)), `gaussian`
/// the same with q = (scale / sqrt d) g, bit for bit the plain one at scale 1.
/// Neurons with |q_i| >= shell are switched off (contribute zero): the momentum shell.
struct SpectrumSpec {
    enum class Kind : int { none = 0, gaussian = 1, cauchy = 2, table = 3, chi = 4 };
    Kind kind = Kind::none;
    /// gaussian: sigma; cauchy: the mass m (|q| = m tan(u angle)); table: the scale s
    /// of the compactified radius t = |q| / (|q| + s); chi: unused (1).
    double scale = 1.0;
    double angle = 0.0;  ///< cauchy: arctan(cutoff / m), pi / 2 without a cutoff
    /// table (d = 1): t_j, the quantiles of the compactified radius at u = j / M, j = 0..M
    /// (t linear in u between them); |q| = s t / (1 - t).
    /// chi (d = 2..4): H(Q_j) = R(Q_j) / sqrt(Q_j) at the nodes Q_j of |g|^2 of
    /// kernels::chi_frequencies (32 K + 1 values, K a power of two).
    std::vector<double> table;
    int dimension = 1;  ///< table, chi: d
    double shell = std::numeric_limits<double>::infinity();

    void validate(int d_in) const;
    bool spectral() const { return kind != Kind::none; }
    /// The radius |q| of a uniform u in [0, 1) (cauchy and table kinds; the sampler
    /// takes the cauchy law's radii from kernels::cauchy_radii, the table's from
    /// table_radii).
    double radius(double u) const;
    /// Table kind: u[i] (uniform in [0, 1)) becomes its radius |q|, for i < n.
    void table_radii(double* u, std::size_t n) const;
};

SpectrumSpec::Kind spectrum_kind_from_name(const std::string& name);

/// What a network ensemble is, and how it is sampled (validated by `validate`).
struct NetworkSpec {
    Activation activation = Activation::erf;
    int width = 1;
    int d_in = 1;
    int depth = 1;
    std::vector<double> sigma_w;  ///< depth + 1 values, last = read-out
    std::vector<double> sigma_b;  ///< depth + 1 values, last = read-out bias
    bool uniform_weights = false;
    bool sign_weights = false;  ///< weights +-sigma / sqrt(fan_in) with random sign
    Sampler sampler = Sampler::weights;
    SpectrumSpec spectrum;  ///< spectral cos-net frequencies (kind none: plain)

    void validate() const;
    int fan_in(int layer) const { return layer == 0 ? d_in : width; }
};

/// Per-network observable handed to the accumulator.
enum class Estimator : int {
    plain = 0,        ///< the outputs f(x_a), a = 0..k-1
    conditional = 1,  ///< the empirical read-out kernel C_ab, a <= b (packed)
};

/// Length of the per-network observable at k inputs: k outputs (plain) or the
/// k (k + 1) / 2 packed entries a <= b of the read-out kernel (conditional).
inline std::size_t observable_size(Estimator e, std::size_t k) {
    return e == Estimator::plain ? k : k * (k + 1) / 2;
}

/// Identifies one random stream of a network: weights or biases of a layer, or the
/// uniforms of a spectral first layer's radii.
enum class Purpose : std::uint64_t { weights = 0, biases = 1, radii = 2 };

/// Thrown by `Evaluator::evaluate` when its stop flag is raised mid-network.
struct StopRequested : std::exception {
    const char* what() const noexcept override { return "network evaluation stopped"; }
};

/// Evaluates networks of one spec on fixed inputs; holds scratch buffers, so use one
/// instance per thread.
class Evaluator {
  public:
    Evaluator(const NetworkSpec& spec, const RowMatrix& x, const Key& key);

    /// Length of the per-network observable: k (plain) or k (k + 1) / 2 (conditional).
    std::size_t observable_size(Estimator e) const;

    /// Replace the standard deviations (a sigma-grid point). The next evaluation of the
    /// same network reuses its cached unit draws: the same network rescaled (on the Gram
    /// path, the chain recomputed from the same unit normals), bit for bit what a
    /// separate run at these sigmas gives, without the random-number cost (unless a
    /// kernel's rank changes, which redraws that layer's prefix).
    /// The values must already be valid for the spec (same lengths, finite, >= 0).
    void set_sigmas(const std::vector<double>& sigma_w, const std::vector<double>& sigma_b);

    /// Replace the spectral momentum shell (a shell-grid point): the same networks with
    /// the neurons at |q| >= shell switched off.
    void set_shell(double shell) {
        spec_.spectrum.shell = shell;
        shell_grid_ = true;
    }

    /// Write the observable of network `net` into out[0 .. observable_size) and return
    /// its scale max_a C_aa, the largest diagonal of the empirical read-out kernel (the
    /// conditional variance of the output), whose tail governs every estimator's.
    double evaluate(std::uint64_t net, Estimator e, double* out);

    /// Poll `stop` while evaluating (every `kStopChunk` neurons of the wide element-wise
    /// stages, every ~2^24 multiply-adds of the products and Gram sums), throwing
    /// StopRequested once it is set, so that a stop request is honoured within
    /// milliseconds even when one network takes seconds. Null: never stop.
    void set_stop(const std::atomic<bool>* stop) { stop_ = stop; }
    static constexpr std::size_t kStopChunk = std::size_t{1} << 16;

  private:
    void check_stop() const;
    /// The first draws of one (layer, purpose) stream of network `net`: unit normals
    /// (four per Philox block) or random words (two per block, for uniforms); kept until
    /// another network, or more of the stream, is asked for.
    struct Stream {
        std::uint64_t net = ~std::uint64_t{0};
        bool gaussian = false;
        std::size_t n_blocks = 0;
        std::vector<std::uint64_t> bits;
        std::vector<double> normals;
    };
    Stream& stream(std::uint64_t net, int layer, Purpose p, std::size_t n, bool normals);
    void update_gauss_shift();
    enum class Dist { gaussian, uniform, sign };
    Dist weight_dist() const;
    void draw(std::uint64_t net, int layer, Purpose p, std::size_t n, double scale,
              Dist dist, double* out);
    void draw_phase(std::uint64_t net);
    /// Spectral first layer: turn the unit normals in w_ (at d = 1 with a radius law
    /// other than gaussian: nothing, see sign_directions) into frequencies, radii_ = |q|.
    void spectral_frequencies(std::uint64_t net);
    /// A non-gaussian spectrum at d = 1: the direction is a sign taken from the radius's
    /// own Philox word, and no normals are drawn.
    bool sign_directions() const {
        return spec_.d_in == 1 && spec_.spectrum.spectral() &&
               spec_.spectrum.kind != SpectrumSpec::Kind::gaussian;
    }
    /// Zero the activations of the neurons outside the shell.
    void apply_shell();
    void hidden_layers(std::uint64_t net);
    void first_layer();
    void weights_layer(std::uint64_t net, int layer);
    void gram_layer(std::uint64_t net, int layer);
    /// packed[t] = sigma_b^2 + (sigma_w^2 / N) sum_j h_j(x_a) h_j(x_b), a <= b, with the
    /// sigmas of `layer`: the empirical kernel that the next layer (or read-out) sees.
    void empirical_kernel(int layer, double* packed);
    /// f(j0, j1) over consecutive ranges of the neurons [0, N), each about 2^24 / cost
    /// neurons (cost: multiply-adds per neuron) and starting at a multiple of `align`,
    /// with a look at the stop flag before each.
    template <class F>
    void by_neuron_chunks(std::size_t cost, std::size_t align, F&& f) const;
    void activate();

    NetworkSpec spec_;
    const std::atomic<bool>* stop_ = nullptr;
    RowMatrix x_;  // k x d_in
    Key key_;
    Eigen::VectorXd gauss_shift_;  // Var z(x_a), for the Gauss-net normaliser
    // scratch
    std::vector<Stream> streams_;  // indexed by stream id
    RowMatrix w_;        // N x fan_in weights of the current layer
    Eigen::VectorXd b_;  // N biases
    RowMatrix z_;        // k x N pre-activations
    RowMatrix h_;        // k x N activations of the last hidden layer
    std::vector<double> packed_;  // Gram path: packed G
    Eigen::MatrixXd kernel_;      // Gram path: G (k x k)
    PsdFactor factor_;            // Gram path: G = A A^T
    RowMatrix coefficients_;      // Gram path: A, row-major
    Eigen::VectorXd w_out_;
    std::vector<double> radii_;  // spectral first layer: |q_i|
    std::vector<double> scratch_;  // spectral first layer: sin of the Cauchy angles
    // spectral: the activations of network spectral_net_ before the shell mask, so that
    // a shell grid evaluates the cosines once per network (invalidated by new sigmas)
    static constexpr std::uint64_t kNoNetwork = ~std::uint64_t{0};
    std::uint64_t spectral_net_ = kNoNetwork;
    bool shell_grid_ = false;  // set_shell was called: keep radii and unmasked activations
    RowMatrix spectral_h_;
    std::vector<double> dot_norms_;  // plain read-out: (h_a . w, |h_a|^2) per input
    std::vector<double> lanes_;      // the partial sums of a Gram matrix or dot_norms
};

}  // namespace nnqft
