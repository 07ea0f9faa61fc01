// The IPsec cable driver (strongSwan charon over VICI) and its pure planners.
export { IpsecDriver, createIpsecDriver, PSK_ID, type IpsecDriverOptions } from './driver.js';
export { planConn, planPairs, pairIdentity, settingsFromConfig, connPlanToText, operationMode, childName, parseGoBool, type IkeConnPlan, type SubnetPair, type CablePairs, IKE_PROPOSALS, ESP_PROPOSALS, type ConnPlan, type ChildPlan, type ConnInput, type IpsecConnSettings, type IpsecMode } from './conn-config.js';
export { renderStrongswanConf, charonPlugins, CHARON_ROUTING_TABLE, type CharonConfOptions } from './charon-conf.js';
export { Charon, charonPaths, viciAnswers, CHARON_BINARY, type CharonPaths, type CharonOptions } from './charon.js';
export { classifyCharonLog, noteCharonContext, observeConnection, preferFailure, type RecentCharonLines, type FailureContext, type IkeFailure, type FailureKind, type ObservedConnection } from './state.js';
