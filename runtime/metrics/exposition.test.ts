import { describe, expect, test } from "bun:test";
import { escapeHelp, escapeLabelValue, formatNumber, writeExposition } from "./exposition.ts";
import { parseExposition, sampleValue } from "./testing/exposition-parser.ts";

describe("Prometheus text exposition", () => {
  test("HELP escapes backslash and line feed only; label values also escape the double quote", () => {
    expect(escapeHelp('a\\b\n"c"')).toBe('a\\\\b\\n"c"');
    expect(escapeLabelValue('a\\b\n"c"')).toBe('a\\\\b\\n\\"c\\"');
  });

  test("values: +Inf, -Inf, NaN and decimals", () => {
    expect([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0, 3, -1.5, 1e-7, 2 ** 53].map(formatNumber)).toEqual([
      "+Inf",
      "-Inf",
      "NaN",
      "0",
      "3",
      "-1.5",
      "1e-7",
      "9007199254740992",
    ]);
  });

  test("a family is HELP, TYPE, then its samples; the text ends with a line feed", () => {
    const text = writeExposition([
      {
        name: "http_requests_total",
        help: "The total number of HTTP requests.",
        type: "counter",
        samples: [
          { name: "http_requests_total", labels: [["method", "post"], ["code", "200"]], value: 1027 },
          { name: "http_requests_total", labels: [["method", "post"], ["code", "400"]], value: 3 },
        ],
      },
      { name: "metric_without_labels", help: "Line one\nwith \\ in it", type: "gauge", samples: [{ name: "metric_without_labels", labels: [], value: 12.47 }] },
      { name: "odd_labels", help: "", type: "gauge", samples: [{ name: "odd_labels", labels: [["path", 'C:\\dir\\"x"\n']], value: 1 }] },
    ]);
    // The shape of the example in the format's documentation.
    expect(text).toBe(
      [
        "# HELP http_requests_total The total number of HTTP requests.",
        "# TYPE http_requests_total counter",
        'http_requests_total{method="post",code="200"} 1027',
        'http_requests_total{method="post",code="400"} 3',
        "# HELP metric_without_labels Line one\\nwith \\\\ in it",
        "# TYPE metric_without_labels gauge",
        "metric_without_labels 12.47",
        "# HELP odd_labels ",
        "# TYPE odd_labels gauge",
        'odd_labels{path="C:\\\\dir\\\\\\"x\\"\\n"} 1',
        "",
      ].join("\n"),
    );
    const parsed = parseExposition(text);
    expect(parsed.get("metric_without_labels")?.help).toBe("Line one\nwith \\ in it");
    expect(sampleValue(parsed, "odd_labels", { path: 'C:\\dir\\"x"\n' })).toBe(1);
    expect(sampleValue(parsed, "http_requests_total", { code: "400" })).toBe(3);
  });

  test("nothing registered writes nothing", () => {
    expect(writeExposition([])).toBe("");
  });

  test("the test parser refuses what Prometheus refuses", () => {
    expect(() => parseExposition("a 1")).toThrow(/line feed/);
    expect(() => parseExposition("a{b=\"1} 1\n")).toThrow();
    expect(() => parseExposition("a{b=\"\\x\"} 1\n")).toThrow(/escape/);
    expect(() => parseExposition("a 1\nb 2\na 3\n")).toThrow(/two blocks/);
    expect(() => parseExposition("a 1\n# TYPE a counter\n")).toThrow(/after its samples/);
    expect(() => parseExposition("a one\n")).toThrow(/bad value/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow(/cumulative/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n')).toThrow(/\+Inf/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n')).toThrow(/_count/);
  });
});
