import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import { childElement, childElements, escapeXml, parseXml, writeXmlDocument, xmlElement, xmlText } from "./xml.ts";

function malformed(source: string): string | undefined {
  try {
    parseXml(source);
    return undefined;
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
}

describe("parseXml", () => {
  test("reads elements, text and ignores attributes", () => {
    const root = parseXml(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n  <Quiet>true</Quiet>\n' +
        "  <Object><Key>a</Key></Object>\n  <Object><Key>b/c</Key><VersionId>v1</VersionId></Object>\n</Delete>\n",
    );
    expect(root.name).toBe("Delete");
    expect(childElement(root, "Quiet")?.text).toBe("true");
    const objects = childElements(root, "Object");
    expect(objects.map((object) => childElement(object, "Key")?.text)).toEqual(["a", "b/c"]);
    expect(childElement(objects[1]!, "VersionId")?.text).toBe("v1");
  });

  test("decodes the predefined entities, character references and CDATA", () => {
    const root = parseXml("<K>&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos; &#65;&#x42;&#x1F600; <![CDATA[<raw&>]]></K>");
    expect(root.text).toBe("<a> & \"b\" 'c' AB😀 <raw&>");
  });

  test("accepts self-closing elements, comments and a byte-order mark", () => {
    const root = parseXml("\uFEFF<!-- hi --><A><B/><!-- inside --><C>x</C></A><!-- after -->");
    expect(root.children.map((child) => child.name)).toEqual(["B", "C"]);
  });

  test("refuses DOCTYPE and entities other than the predefined ones", () => {
    expect(malformed('<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>')).toBe("MalformedXML");
    expect(malformed('<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>')).toBe("MalformedXML");
    expect(malformed("<a>&x;</a>")).toBe("MalformedXML");
    expect(malformed("<a>&#0;</a>")).toBe("MalformedXML");
    expect(malformed("<a>&amp</a>")).toBe("MalformedXML");
  });

  test("refuses malformed documents", () => {
    for (const source of ["", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a/><b/>", "<a>x</a>trailing", "<a x=1/>", "<a x='1\"/>", "<1a/>", "<a><?pi x?></a>"]) {
      expect(malformed(source)).toBe("MalformedXML");
    }
  });

  test("refuses nesting deeper than the bound", () => {
    expect(malformed("<a>".repeat(40) + "</a>".repeat(40))).toBe("MalformedXML");
    expect(malformed("<a>".repeat(10) + "</a>".repeat(10))).toBeUndefined();
  });
});

describe("writing", () => {
  test("escapes markup characters and control characters", () => {
    expect(escapeXml(`a<b>&"c"'d'`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
    expect(escapeXml("x\u0001y\rz")).toBe("x&#x1;y&#xD;z");
    expect(escapeXml("plain/text é")).toBe("plain/text é");
  });

  test("writes the namespace on the root only and skips undefined children", () => {
    const text = writeXmlDocument(xmlElement("Root", [xmlText("Key", "<&>"), undefined, xmlText("Empty", ""), xmlElement("List", [])]));
    expect(text).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Key>&lt;&amp;&gt;</Key><Empty/><List></List></Root>',
    );
  });

  test("what the writer escapes, the reader restores", () => {
    const original = `key with <tags> & "quotes" and 'apostrophes' \u0007 é`;
    const root = parseXml(writeXmlDocument(xmlText("Key", original)));
    expect(root.text).toBe(original);
  });
});
