/** The XML subset reader for EC2 answers and the Query-protocol helpers: entities, lists, error documents, bad input. */
import t from 'tap';
import { decodeQuery, encodeQuery, filterParams, listParams, parseErrorDocument, readFilters, readList } from '../../src/aws/query.js';
import { child, childText, escapeXml, items, parseXml } from '../../src/aws/xml.js';

t.test('parses EC2-style answers: prolog, namespace attribute, item lists, entities, CDATA, comments', async (t) => {
  const root = parseXml(
    '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">\n' +
      '<requestId>r-1</requestId><!-- c --><addressesSet><item><publicIp>203.0.113.10</publicIp><tagSet/></item>' +
      '<item><publicIp>a &amp; b &lt;&#x41;&#66;&gt;</publicIp><x><![CDATA[<raw>]]></x></item></addressesSet></DescribeAddressesResponse>',
  );
  t.equal(root.name, 'DescribeAddressesResponse');
  t.equal(childText(root, 'requestId'), 'r-1');
  const list = items(root, 'addressesSet');
  t.same(list.map((i) => childText(i, 'publicIp')), ['203.0.113.10', 'a & b <AB>']);
  t.equal(childText(list[1], 'x'), '<raw>');
  t.same(items(list[0], 'tagSet'), [], 'a self-closing list is empty');
  t.equal(child(root, 'missing'), undefined);
  t.equal(escapeXml(`<a&'">`), '&lt;a&amp;&apos;&quot;&gt;');
});

t.test('malformed XML throws an error naming the offset', async (t) => {
  t.throws(() => parseXml('<a><b></a>'), /end tag <\/a> does not match <b> at offset/);
  t.throws(() => parseXml('<a>'), /<a> is not closed/);
  t.throws(() => parseXml('<!DOCTYPE x><a/>'), /DTDs are not supported/);
  t.throws(() => parseXml('text'), /text outside the root element/);
  t.throws(() => parseXml('<a/><b/>'), /a second root element/);
  t.equal(parseErrorDocument('<html>502 Bad Gateway</html>'), undefined, 'not an EC2 error document');
  t.equal(parseErrorDocument('not xml at all <'), undefined);
  t.same(parseErrorDocument('<Response><Errors><Error><Code>AuthFailure</Code><Message>no</Message></Error></Errors><RequestID>x</RequestID></Response>'), {
    code: 'AuthFailure',
    message: 'no',
    requestId: 'x',
  });
});

t.test('Query encoding: lists, filters, RFC 3986 escaping, and the decoding side', async (t) => {
  const body = encodeQuery('DescribeInstances', { ...filterParams([{ name: 'tag:role', values: ['lb', 'a b+c'] }]), ...listParams('InstanceId', ['i-1']) });
  t.equal(body, 'Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Arole&Filter.1.Value.1=lb&Filter.1.Value.2=a%20b%2Bc&InstanceId.1=i-1');
  const p = decodeQuery(body);
  t.same(readFilters(p), [{ name: 'tag:role', values: ['lb', 'a b+c'] }]);
  t.same(readList(p, 'InstanceId'), ['i-1']);
});
