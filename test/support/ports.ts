/**
 * Ports for peers: the bench's (src/bench/ports.ts), so that the bench and the tests take ports
 * one way. Every test takes its own: 3260/3261 and tgtd control port 9001 belong to whoever runs
 * the project by hand, and tests of other files may run beside ours.
 */
export { CONTROL_PORT_MAX, CONTROL_PORT_MIN, freeTcpPort, randomControlPort } from "../../src/bench/ports.js";
