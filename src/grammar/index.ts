/** Public surface of src/grammar (see README.md). */
export { displayValue, editDistance, fail, ok } from './text.js';
export type { Parsed } from './text.js';
export { ISTIO_IPTABLES, MAX_LIST_ITEMS, MAX_VALUE_CHARS, STRICT } from './syntax.js';
export type { Syntax } from './syntax.js';
export { isAll, parseList, splitList } from './list.js';
export { formatPortList, formatPortSelection, parsePort, parsePortList, parsePortSelection } from './ports.js';
export type { PortRange, PortSelection } from './ports.js';
export { formatCidr, formatCidrList, formatCidrSelection, parseCidr, parseCidrList, parseCidrSelection } from './cidrs.js';
export type { Cidr, CidrSelection, Family } from './cidrs.js';
export { parseInterfaceList, parseInterfaceName } from './interfaces.js';
export { MAX_ID, parseBoolean, parseDuration, parseIdList, parseWholeNumber } from './numbers.js';
