/** Public surface of src/grammar (see README.md). */
export { displayValue, editDistance, fail, isDigits, MAX_DISPLAY_CHARS, ok } from './text.js';
export type { Parsed } from './text.js';
export { ISTIO_IPTABLES, MAX_LIST_ITEMS, MAX_VALUE_CHARS, STRICT, scalar, trimBlanks } from './syntax.js';
export type { Syntax } from './syntax.js';
export { isAll, parseList, splitList } from './list.js';
export { formatPortList, formatPortRange, formatPortSelection, parsePort, parsePortItem, parsePortList, parsePortSelection } from './ports.js';
export type { PortListOptions, PortRange, PortSelection } from './ports.js';
export { formatCidr, formatCidrList, formatCidrSelection, parseCidr, parseCidrList, parseCidrSelection } from './cidrs.js';
export type { Cidr, CidrSelection, Family } from './cidrs.js';
export { parseInterfaceList, parseInterfaceName } from './interfaces.js';
export { formatMs, MAX_ID, parseDuration, parseIdList, parseWholeNumber } from './numbers.js';
export type { DurationBounds, NumberBounds } from './numbers.js';
