/**
 * The EC2 Query protocol (API version 2016-11-15): requests are `POST /` with a form-encoded body
 * `Action=…&Version=2016-11-15&…`, lists flattened as `Name.1`, `Name.2`, filters as
 * `Filter.N.Name` / `Filter.N.Value.M`; answers are XML `<ActionResponse xmlns=…>` documents, errors
 * `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
 * Pure functions shared by the client and the simulator.
 */
import { uriEncode } from './sigv4.js';
import { childText, parseXml, path, XmlError, type XmlElement } from './xml.js';

export const EC2_API_VERSION = '2016-11-15';
export const EC2_XMLNS = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`;

export type QueryParams = Record<string, string | undefined>;

export interface Ec2Filter {
  name: string;
  values: readonly string[];
}

/** `PublicIp.1=…&PublicIp.2=…` */
export function listParams(name: string, values: readonly string[]): QueryParams {
  const out: QueryParams = {};
  values.forEach((v, i) => (out[`${name}.${i + 1}`] = v));
  return out;
}

/** `Filter.1.Name=tag:role&Filter.1.Value.1=lb…` */
export function filterParams(filters: readonly Ec2Filter[]): QueryParams {
  const out: QueryParams = {};
  filters.forEach((f, i) => {
    out[`Filter.${i + 1}.Name`] = f.name;
    f.values.forEach((v, j) => (out[`Filter.${i + 1}.Value.${j + 1}`] = v));
  });
  return out;
}

/** The form body of one call (parameters sorted: a stable body is easier to read in logs). */
export function encodeQuery(action: string, params: QueryParams): string {
  const all: Array<[string, string]> = [
    ['Action', action],
    ['Version', EC2_API_VERSION],
  ];
  for (const [k, v] of Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (v !== undefined) all.push([k, v]);
  return all.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
}

/** Decodes a form body (the simulator's side); `+` is a space, as in every form encoding. */
export function decodeQuery(body: string): Map<string, string> {
  return new Map(new URLSearchParams(body));
}

/** `Name.1`, `Name.2`, … of a decoded query, in index order. */
export function readList(params: Map<string, string>, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${name}.${i}`); i++) out.push(params.get(`${name}.${i}`)!);
  return out;
}

/** The filters of a decoded query (`Filter.N.Name` / `Filter.N.Value.M`). */
export function readFilters(params: Map<string, string>): Ec2Filter[] {
  const out: Ec2Filter[] = [];
  for (let i = 1; params.has(`Filter.${i}.Name`); i++) {
    out.push({ name: params.get(`Filter.${i}.Name`)!, values: readList(params, `Filter.${i}.Value`) });
  }
  return out;
}

export interface Ec2ErrorDocument {
  code: string;
  message: string;
  requestId?: string;
}

/** Reads an EC2 error document; undefined when the body is not one (a proxy's HTML page…). */
export function parseErrorDocument(body: string): Ec2ErrorDocument | undefined {
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (err) {
    if (err instanceof XmlError) return undefined;
    throw err;
  }
  const error = path(root, 'Errors', 'Error');
  const code = childText(error, 'Code');
  if (!code) return undefined;
  const requestId = childText(root, 'RequestID') ?? childText(root, 'RequestId');
  return { code, message: childText(error, 'Message') ?? '', ...(requestId ? { requestId } : {}) };
}
