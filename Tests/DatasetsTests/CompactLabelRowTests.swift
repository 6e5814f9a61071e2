import Foundation
import Testing
@testable import Datasets

/// Table rows store labels sparsely (dataset object format 2): O(labels) per row, not O(classes).
@Suite struct CompactLabelRowTests {
    func roundTrip(_ row: TableRow) throws -> (TableRow, String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(row)
        return (try JSONDecoder().decode(TableRow.self, from: data), String(decoding: data, as: UTF8.self))
    }

    @Test func everyLabelKindRoundTrips() throws {
        let rows = [
            // single, one-hot
            TableRow(path: "a.png", label: [0, 0, 1, 0], labelMask: [1, 1, 1, 1], attributes: [1], domain: -1, split: .train),
            // multi with an uncertain entry (masked) and a blank one
            TableRow(path: "b.png", label: [1, 0, 1, 0], labelMask: [1, 0, 1, 1], attributes: [-1], domain: 0, split: .val),
            // soft
            TableRow(path: "c.png", label: [0.5, 0.16666667, 0, 0.33333334], labelMask: [1, 1, 1, 1], attributes: [0], domain: 2, split: .testID),
            // unlabeled
            TableRow(path: "d.png", label: [0, 0, 0, 0], labelMask: [0, 0, 0, 0], attributes: [0], domain: -1, split: .unlabeled),
        ]
        for row in rows {
            let (back, json) = try roundTrip(row)
            #expect(back == row, "\(json)")
            #expect(!json.contains("\"label\"") && !json.contains("label_mask"))
        }
        #expect(try roundTrip(rows[0]).1.contains(#""label_index":[2]"#))
        #expect(!(try roundTrip(rows[0]).1.contains("label_value")))   // all ones: values omitted
        #expect(try roundTrip(rows[1]).1.contains(#""unknown":[1]"#))
        #expect(try roundTrip(rows[3]).1.contains(#""unlabeled":true"#))
    }

    @Test func aRowCostsItsLabelsNotItsClasses() throws {
        // 1000 classes (the limit), one label: the old dense form wrote two 1000-entry vectors per row.
        var label = [Float](repeating: 0, count: 1000); label[417] = 1
        let row = TableRow(path: "x.png", label: label, labelMask: [UInt8](repeating: 1, count: 1000), attributes: [0],
                           domain: -1, split: .train)
        let (back, json) = try roundTrip(row)
        #expect(back == row)
        #expect(json.utf8.count < 150, "\(json.utf8.count) bytes")
    }

    @Test func theDenseFormOfFormatVersionOneIsStillRead() throws {
        let dense = #"{"attributes":[1],"domain":-1,"label":[0,1],"label_mask":[1,1],"path":"img/0.png","split":"train"}"#
        let row = try JSONDecoder().decode(TableRow.self, from: Data(dense.utf8))
        #expect(row.label == [0, 1] && row.labelMask == [1, 1] && row.topClass == 1)
    }

    @Test func corruptCompactRowsAreRefused() {
        for bad in [
            #"{"attributes":[],"classes":2,"domain":-1,"label_index":[2],"path":"p","split":"train"}"#,
            #"{"attributes":[],"classes":0,"domain":-1,"label_index":[],"path":"p","split":"train"}"#,
            #"{"attributes":[],"classes":100000000,"domain":-1,"label_index":[],"path":"p","split":"train"}"#,
            #"{"attributes":[],"classes":2,"domain":-1,"label_index":[0],"label_value":[0.5,0.5],"path":"p","split":"train"}"#,
            #"{"attributes":[],"classes":2,"domain":-1,"label_index":[0],"unknown":[-1],"path":"p","split":"train"}"#,
        ] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(TableRow.self, from: Data(bad.utf8)) }
        }
    }
}
