// The IPsec cable driver's libreswan back end (pluto over whack), for cluster sets with libreswan 4.x gateways.
export { PlutoDriver, createPlutoDriver, type PlutoDriverOptions } from './driver.js';
export { Pluto, plutoPaths, socketAnswers, type PlutoPaths, type PlutoOptions } from './pluto.js';
export { planWhack, whackPlanToText, BACKEND_KEY, type WhackPlan, type WhackConn } from './whack.js';
export { classifyPlutoLog, parseTrafficStatus, parseShowStates, connOfLine, type TrafficEntry, type StateEntry } from './status.js';
