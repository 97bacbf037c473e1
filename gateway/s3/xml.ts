/**
 * A small, safe XML reader for the request bodies S3 operations accept
 * (CreateBucketConfiguration, Delete) and an escaping writer for replies.
 *
 * The reader is deliberately narrow: elements, text and the five predefined
 * entities plus numeric character references. A DOCTYPE, any other entity,
 * processing instructions other than the leading XML declaration and
 * anything unbalanced are refused with MalformedXML — that closes the door on
 * entity-expansion and external-entity attacks without a general parser.
 */
import { S3Error } from "../errors.ts";

/** The namespace S3 puts on every reply's root element. */
export const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

/** The most bytes of XML read for any one request body. */
export const xmlBodyBytesMax = 1024 * 1024;

/** Nesting beyond this is refused; S3's request documents are three levels deep. */
const depthMax = 32;

export interface XmlElement {
  /** Local name (any `prefix:` is kept as written; S3 bodies use none). */
  readonly name: string;
  readonly children: XmlElement[];
  /** Concatenated text directly inside this element, entities decoded. */
  text: string;
}

/** A request body's text: MalformedXML when it is not valid UTF-8 (every S3 XML document must be). */
export function decodeXmlBody(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new S3Error("MalformedXML", "The XML you provided is not valid UTF-8.");
  }
}

/** Parses a document into its root element; throws S3Error("MalformedXML"). */
export function parseXml(source: string): XmlElement {
  const reader = new XmlReader(source);
  return reader.document();
}

/** The first child called `name`, if any. */
export function childElement(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((child) => child.name === name);
}

/** Every child called `name`. */
export function childElements(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

function malformed(detail: string): S3Error {
  return new S3Error("MalformedXML", `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`);
}

const nameStart = /[A-Za-z_:\u00C0-\uFFFF]/;
const nameChar = /[A-Za-z0-9_:.\-\u00B7\u00C0-\uFFFF]/;

class XmlReader {
  readonly #source: string;
  #position = 0;

  constructor(source: string) {
    this.#source = source;
  }

  document(): XmlElement {
    // A byte-order mark may precede the declaration.
    if (this.#source.startsWith("\uFEFF")) this.#position = 1;
    this.#skipWhitespace();
    if (this.#source.startsWith("<?xml", this.#position)) {
      const end = this.#source.indexOf("?>", this.#position);
      if (end < 0) throw malformed("unterminated XML declaration");
      this.#position = end + 2;
    }
    this.#skipMisc();
    if (this.#position >= this.#source.length) throw malformed("no root element");
    const root = this.#element(0);
    this.#skipMisc();
    if (this.#position !== this.#source.length) throw malformed("content after the root element");
    return root;
  }

  /** Whitespace and comments; a DOCTYPE or processing instruction here is refused. */
  #skipMisc(): void {
    for (;;) {
      this.#skipWhitespace();
      if (this.#source.startsWith("<!--", this.#position)) {
        this.#comment();
        continue;
      }
      if (this.#source.startsWith("<!", this.#position)) throw malformed("DOCTYPE and declarations are not accepted");
      if (this.#source.startsWith("<?", this.#position)) throw malformed("processing instructions are not accepted");
      return;
    }
  }

  #comment(): void {
    const end = this.#source.indexOf("-->", this.#position + 4);
    if (end < 0) throw malformed("unterminated comment");
    this.#position = end + 3;
  }

  #skipWhitespace(): void {
    while (this.#position < this.#source.length && " \t\r\n".includes(this.#source[this.#position]!)) this.#position += 1;
  }

  #name(): string {
    const start = this.#position;
    if (!nameStart.test(this.#source[this.#position] ?? "")) throw malformed("expected a name");
    this.#position += 1;
    while (this.#position < this.#source.length && nameChar.test(this.#source[this.#position]!)) this.#position += 1;
    return this.#source.slice(start, this.#position);
  }

  #element(depth: number): XmlElement {
    if (depth >= depthMax) throw malformed("nesting too deep");
    if (this.#source[this.#position] !== "<") throw malformed("expected an element");
    this.#position += 1;
    const name = this.#name();
    this.#attributes();
    const element: XmlElement = { name, children: [], text: "" };
    if (this.#source.startsWith("/>", this.#position)) {
      this.#position += 2;
      return element;
    }
    if (this.#source[this.#position] !== ">") throw malformed(`bad start tag <${name}>`);
    this.#position += 1;
    for (;;) {
      if (this.#position >= this.#source.length) throw malformed(`<${name}> is not closed`);
      const next = this.#source[this.#position];
      if (next === "<") {
        if (this.#source.startsWith("</", this.#position)) {
          this.#position += 2;
          const closing = this.#name();
          this.#skipWhitespace();
          if (closing !== name || this.#source[this.#position] !== ">") throw malformed(`</${closing}> does not close <${name}>`);
          this.#position += 1;
          return element;
        }
        if (this.#source.startsWith("<!--", this.#position)) {
          this.#comment();
          continue;
        }
        if (this.#source.startsWith("<![CDATA[", this.#position)) {
          const end = this.#source.indexOf("]]>", this.#position + 9);
          if (end < 0) throw malformed("unterminated CDATA section");
          element.text += this.#source.slice(this.#position + 9, end);
          this.#position = end + 3;
          continue;
        }
        if (this.#source.startsWith("<!", this.#position) || this.#source.startsWith("<?", this.#position)) {
          throw malformed("declarations and processing instructions are not accepted");
        }
        element.children.push(this.#element(depth + 1));
        continue;
      }
      const end = this.#source.indexOf("<", this.#position);
      const stop = end < 0 ? this.#source.length : end;
      element.text += decodeText(this.#source.slice(this.#position, stop));
      this.#position = stop;
    }
  }

  /** Attributes are read for well-formedness and ignored (S3 bodies carry only xmlns). */
  #attributes(): void {
    for (;;) {
      const before = this.#position;
      this.#skipWhitespace();
      const next = this.#source[this.#position];
      if (next === ">" || next === "/" || next === undefined) return;
      if (this.#position === before) throw malformed("attributes must be separated by whitespace");
      this.#name();
      this.#skipWhitespace();
      if (this.#source[this.#position] !== "=") throw malformed("attribute without a value");
      this.#position += 1;
      this.#skipWhitespace();
      const quote = this.#source[this.#position];
      if (quote !== '"' && quote !== "'") throw malformed("attribute value must be quoted");
      const end = this.#source.indexOf(quote, this.#position + 1);
      if (end < 0) throw malformed("unterminated attribute value");
      const value = this.#source.slice(this.#position + 1, end);
      if (value.includes("<")) throw malformed("'<' in an attribute value");
      decodeText(value);
      this.#position = end + 1;
    }
  }
}

const namedEntities: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeText(raw: string): string {
  if (!raw.includes("&")) return raw;
  let out = "";
  let position = 0;
  for (;;) {
    const amp = raw.indexOf("&", position);
    if (amp < 0) return out + raw.slice(position);
    out += raw.slice(position, amp);
    const semicolon = raw.indexOf(";", amp);
    if (semicolon < 0) throw malformed("unterminated entity reference");
    const entity = raw.slice(amp + 1, semicolon);
    const named = namedEntities[entity];
    if (named !== undefined) {
      out += named;
    } else if (/^#[0-9]{1,7}$/.test(entity) || /^#x[0-9A-Fa-f]{1,6}$/.test(entity)) {
      const codePoint = entity[1] === "x" ? Number.parseInt(entity.slice(2), 16) : Number.parseInt(entity.slice(1), 10);
      if (!isXmlChar(codePoint)) throw malformed(`character reference &${entity}; is not a valid character`);
      out += String.fromCodePoint(codePoint);
    } else {
      throw malformed(`entity &${entity}; is not accepted`);
    }
    position = semicolon + 1;
  }
}

/**
 * Character references may name any code point but NUL and surrogates. XML
 * 1.0 forbids the other control characters too, but S3 writes them as
 * references (keys may contain them) and clients send them back that way.
 */
function isXmlChar(codePoint: number): boolean {
  return codePoint >= 0x1 && codePoint <= 0x10ffff && !(codePoint >= 0xd800 && codePoint <= 0xdfff);
}

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, (character) => {
    switch (character) {
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case "&":
        return "&amp;";
      case '"':
        return "&quot;";
      case "'":
        return "&apos;";
      default:
        // Control characters (legal in S3 keys) cannot appear literally in
        // XML 1.0; a numeric reference keeps them round-trippable, as S3 does.
        return `&#x${character.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}

/** A reply element: text, children, or nothing. */
export type XmlNode = { readonly name: string; readonly text?: string; readonly children?: readonly (XmlNode | undefined)[] };

/** Convenience: an element holding text. */
export function xmlText(name: string, text: string): XmlNode {
  return { name, text };
}

/** Convenience: an element holding children; `undefined` children are skipped. */
export function xmlElement(name: string, children: readonly (XmlNode | undefined)[]): XmlNode {
  return { name, children };
}

/**
 * Writes a reply document with the XML declaration and, unless `namespace`
 * is null, a namespace on the root (the S3 one by default). Error replies
 * pass null: S3 writes `<Error>` without one, and botocore only recognises an
 * S3 error body whose root tag is exactly `Error`.
 */
export function writeXmlDocument(root: XmlNode, namespace: string | null = s3Namespace): string {
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  writeNode(root, parts, namespace ?? undefined);
  return parts.join("");
}

function writeNode(node: XmlNode, parts: string[], namespace: string | undefined): void {
  const open = namespace === undefined ? `<${node.name}>` : `<${node.name} xmlns="${escapeXml(namespace)}">`;
  if (node.children !== undefined) {
    parts.push(open);
    for (const child of node.children) if (child !== undefined) writeNode(child, parts, undefined);
    parts.push(`</${node.name}>`);
    return;
  }
  if (node.text === undefined || node.text === "") {
    parts.push(namespace === undefined ? `<${node.name}/>` : `${open}</${node.name}>`);
    return;
  }
  parts.push(open, escapeXml(node.text), `</${node.name}>`);
}
