// swift-tools-version:6.0
// fairgen: generative data augmentation for fairer medical-image classifiers (Ktena et al. 2024).
// Module boundaries and the direction of dependencies follow docs/architecture.md (DESIGN §2):
// Daemon → Pipeline → Diffusion/Fairness/Datasets/Store → Models → NN → Tensors → C shims.
import PackageDescription

// Release builds of the numerical modules drop exclusivity checks: they sit on hot pointer loops and
// cost 10–30 % there. Overflow checks stay on (kernels use wrapping operators where it matters).
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "fairgen",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fairgen", targets: ["fairgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
    ],
    targets: [
        // C shims: modulemap + header only.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        // OpenMPI (Debian), for data-parallel training under mpirun/srun (docs/mpi.md).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // CPUID/XGETBV feature bits and a SIGILL guard, for choosing OpenBLAS's kernels (BLASCore.swift).
        .target(name: "CCPUID"),
        // Vectorised element-wise kernels (AVX-512 / AVX2 / portable C, chosen at run time).
        .target(name: "CKernels"),
        // SHA-256, which names every store object (a few dozen lines instead of a TLS library).
        .target(name: "CSHA256"),

        // Rendering of untrusted text for terminals/logs, HTML and JSON; no dependencies, so every
        // module that echoes user data (or writes JSON) can use the one implementation.
        .target(name: "Text"),
        .target(name: "Tensors", dependencies: ["CBLAS", "CCPUID"], swiftSettings: fastMath),
        .target(name: "NN", dependencies: ["Tensors", "Text", "CKernels"], swiftSettings: fastMath),
        .target(name: "Models", dependencies: ["NN", "Tensors", "CKernels"], swiftSettings: fastMath),
        // Rank, size and deterministic collectives (allgather, barrier, broadcast): one process or MPI.
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "Diffusion", dependencies: ["Models", "NN", "Tensors", "Distributed"], swiftSettings: fastMath),
        .target(name: "Fairness", dependencies: ["Tensors", "Text"], swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: [
            "CArchive", "CPNG", "Tensors", "Text",
            .product(name: "Yams", package: "Yams"),
            .product(name: "CSV", package: "CSV.swift"),
        ], swiftSettings: fastMath),
        // Tensors only for `BLASInfo`, which run.json records.
        .target(name: "Store", dependencies: [
            "Tensors", "Text", "CSHA256",
        ]),
        // Classifier training (real/synthetic mixing, baselines) and prediction; metrics stay in Fairness.
        .target(name: "Classifier", dependencies: ["Models", "NN", "Tensors", "Datasets", "Fairness"], swiftSettings: fastMath),
        // Benchmark workloads W1–W5 (same networks and JSON keys as shared/bench/torch_reference.py), ddim50, upsampler.
        .target(name: "Bench", dependencies: ["Diffusion", "Models", "NN", "Tensors"], swiftSettings: fastMath),
        .target(name: "Pipeline", dependencies: [
            "Diffusion", "Fairness", "Datasets", "Store", "Classifier", "Models", "NN", "Tensors", "CArchive", "Text", "Distributed",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: fastMath),
        .target(name: "Daemon", dependencies: [
            "Pipeline", "Store", "Datasets", "Text",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "fairgen", dependencies: [
            "Daemon", "Pipeline", "Store", "Datasets", "Fairness", "Diffusion", "Models", "NN", "Tensors", "Bench", "Text", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "TextTests", dependencies: ["Text"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensors", "CKernels"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Tensors"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "Models", "NN", "Tensors", "Distributed"]),
        .testTarget(name: "FairnessTests", dependencies: ["Fairness"]),
        .testTarget(name: "ClassifierTests", dependencies: ["Classifier", "Datasets", "Fairness", "Models", "NN", "Tensors"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Tensors"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Daemon", "Store", "Datasets", "Diffusion", "NN", "Tensors", "Text", "Distributed"]),
        .testTarget(name: "CLITests", dependencies: ["fairgen"]),
    ]
)
