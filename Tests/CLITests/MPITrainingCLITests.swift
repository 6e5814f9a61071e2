import Foundation
import Testing

/// `mpirun -np 2 fairgen train-check` against one process (docs/mpi.md): the same checkpoint bytes.
/// OpenMPI comes from the Makefile's packages; without `mpirun` this test fails and says so.
@Suite struct MPITrainingCLITests {
    /// `mpirun` on PATH (or Debian's /usr/bin/mpirun).
    static func mpirun() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        return dirs.map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `mpirun -np <ranks> fairgen args…` in `dir`; status and combined output.
    static func launch(_ mpirun: String, ranks: Int, _ args: [String], in dir: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        // --allow-run-as-root: CI containers run as root; --oversubscribe: 2 ranks even on a 1-core runner.
        process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", CLI.executable.path] + args
        process.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env["FAIRGEN_STORE"] = nil
        process.environment = env
        let log = dir.appendingPathComponent("mpirun-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate(); process.waitUntilExit(); return (124, "timed out") }
        return (process.terminationStatus, String(decoding: try Data(contentsOf: log), as: UTF8.self))
    }

    /// The `checkpoint <id> ranks <n>` line of a train-check run.
    static func checkpoint(_ output: String) -> (id: String, ranks: String)? {
        for line in output.split(separator: "\n") where line.hasPrefix("checkpoint ") {
            let f = line.split(separator: " ")
            if f.count == 4 { return (String(f[1]), String(f[3])) }
        }
        return nil
    }

    @Test func twoRanksGiveTheCheckpointOfOneProcess() throws {
        guard let mpirun = Self.mpirun() else {
            Issue.record("mpirun not found on PATH or in /usr/bin: install openmpi-bin and libopenmpi-dev (`make deps`)")
            return
        }
        let dir = try Scratch()
        defer { dir.remove() }
        let options = ["--steps", "6", "--batch", "4", "--micro-batches", "2", "--seed", "9"]
        let single = try CLI.run(["train-check", "--store", "one"] + options, in: dir.url)
        #expect(single.status == 0, "\(single.stderr)")
        let two = try Self.launch(mpirun, ranks: 2, ["train-check", "--store", "two"] + options, in: dir.url)
        #expect(two.status == 0, "\(two.output)")
        let a = Self.checkpoint(single.stdout), b = Self.checkpoint(two.output)
        #expect(a?.ranks == "1" && b?.ranks == "2", "\(single.stdout)\n\(two.output)")
        #expect(a != nil && a?.id == b?.id, "one process \(a?.id ?? "-"), two ranks \(b?.id ?? "-")")
        // only rank 0 printed (and wrote): one checkpoint line
        #expect(two.output.split(separator: "\n").filter { $0.hasPrefix("checkpoint ") }.count == 1)
        // the two stores hold the same objects and keys
        #expect(dir.files(under: "one/objects").sorted() == dir.files(under: "two/objects").sorted())
        #expect(dir.files(under: "one/keys").sorted() == dir.files(under: "two/keys").sorted())

        // A micro-batch count the ranks cannot share is refused, naming the setting.
        let odd = try Self.launch(mpirun, ranks: 2, ["train-check", "--store", "odd", "--micro-batches", "3"], in: dir.url)
        #expect(odd.status != 0 && odd.output.contains("--micro-batches is 3, not a multiple of the 2 MPI ranks"), "\(odd.output)")
    }
}

extension MPITrainingCLITests {
    /// A command that is not MPI-aware (it would create run folders and take locks on every rank) is refused
    /// when the launcher says it started several ranks; alone, it runs as usual.
    @Test func otherCommandsRefuseToRunAsSeveralRanks() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let refused = try CLI.run(["store", "ls", "--store", "s"], in: dir.url, env: ["OMPI_COMM_WORLD_SIZE": "2"])
        #expect(refused.status == 2 && refused.stderr.contains("'ls' is not MPI-aware and was started as one of 2 ranks"),
                "\(refused.stderr)")
        #expect(try CLI.run(["store", "ls", "--store", "s"], in: dir.url, env: ["OMPI_COMM_WORLD_SIZE": "1"]).status != 2)
    }
}
