#!/usr/bin/env node
"use strict";
/*
 * Third-party VDA 5050 2.0 vehicles for Tote's tests: each vehicle is Siemens'
 * vda-5050-lib AgvController driving a VirtualAgvAdapter, connected to an MQTT
 * broker (Tote's edge gate, or a plain broker) as an independent robot.
 *
 *   node fleet.js CONFIG.json
 *
 * CONFIG.json:
 *   {
 *     "broker": {"host": "127.0.0.1", "port": 1883,
 *                "tls_ca": "/path/ca.pem",          optional: MQTT over TLS, trusting this CA
 *                "tls_servername": "localhost"},     optional: TLS name to verify, if not host
 *     "vehicles": [{"manufacturer": "acme", "serialNumber": "lib-1",
 *                   "username": "...", "password": "...",   optional MQTT login
 *                   "x": 0, "y": 0, "theta": 0,             theta optional, 0
 *                   "mapId": "floor", "lastNodeId": "n1"}], lastNodeId optional, ""
 *     "speed": 2,                       optional, m/s (library default 2)
 *     "timeLapse": 1,                   optional, simulated seconds per real second
 *     "battery": 100,                   optional, initial charge in percent
 *     "stateIntervalMs": 30000,         optional, longest gap between state messages
 *     "visualizationIntervalMs": 1000,  optional, 0 turns visualization off
 *     "interfaceName": "uagv",          optional
 *     "factsheet": {...},               optional, headerless factsheet a vehicle
 *                                       publishes on factsheetRequest (the library's
 *                                       own is empty: header only)
 *     "log": "fleet.jsonl"
 *   }
 *
 * Every VDA 5050 message a vehicle receives or publishes is appended to `log`
 * as one JSON line {"dir":"in"|"out","serial","topic","message"}; each is also
 * run through the library's own validation (Client.validateTopicObject: the
 * header's version must be exactly "2.0.0", then the library's generated
 * JSON-schema validator), and a failure is logged as
 * {"dir","serial","topic","invalid"}. An outbound message that fails the
 * library's validation is never published (the library throws): it is logged
 * as {"dir":"out","serial","topic","invalid","message"} with the headerless
 * object.
 *
 * Prints `READY <n>` on stdout once all n vehicles are connected, subscribed
 * and have published their first state. Runs until SIGTERM/SIGINT, or until
 * stdin closes when stdin is a pipe or socket; then each vehicle stops the
 * library's way (last state, connection OFFLINE retained, MQTT disconnect).
 */
const fs = require("fs");
const { lib, instantActionsForLibrary } = require("./shim");

const VDA_VERSION = "2.0.0";
const LIB_TOPICS = new Set(Object.values(lib.Topic));

function fail(message) {
    process.stderr.write(`fleet.js: ${message}\n`);
    process.exit(1);
}

if (process.argv.length < 3) {
    fail("usage: node fleet.js CONFIG.json");
}
let config;
try {
    config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
} catch (error) {
    fail(`cannot read config ${process.argv[2]}: ${error.message}`);
}
if (!config.broker || !config.broker.host || !config.broker.port) fail("config: broker.host and broker.port are required");
if (!Array.isArray(config.vehicles) || config.vehicles.length === 0) fail("config: vehicles must be a non-empty array");
if (!config.log) fail("config: log is required");

const logFd = fs.openSync(config.log, "a");
function logLine(object) {
    fs.writeSync(logFd, JSON.stringify(object) + "\n");
}

const { host, port, tls_ca: tlsCa, tls_servername: tlsServername } = config.broker;
const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
const brokerUrl = `${tlsCa ? "mqtts" : "mqtt"}://${hostPart}:${port}`;
const tlsOptions = tlsCa ? { ca: fs.readFileSync(tlsCa), ...(tlsServername ? { servername: tlsServername } : {}) } : undefined;

/** Logs one MQTT message and the library's verdict on it. */
function record(controller, dir, mqttTopic, payload) {
    const serial = controller.agvId.serialNumber;
    let message;
    try {
        message = JSON.parse(payload.toString());
    } catch (error) {
        logLine({ dir, serial, topic: mqttTopic, message: payload.toString(), invalid: `not JSON: ${error.message}` });
        return;
    }
    logLine({ dir, serial, topic: mqttTopic, message });
    const topic = mqttTopic.split("/").pop();
    if (!LIB_TOPICS.has(topic)) {
        return;
    }
    // Validate what the (shimmed) library itself processes: for an inbound
    // instantActions message that is the 2.0 `actions` under the 1.1 key.
    const subject = dir === "in" && topic === lib.Topic.InstantActions ? instantActionsForLibrary(message) : message;
    try {
        controller.validateTopicObject(topic, subject, VDA_VERSION);
    } catch (error) {
        logLine({ dir, serial, topic: mqttTopic, invalid: error.message });
    }
}

function startVehicle(v, index) {
    for (const key of ["manufacturer", "serialNumber", "mapId"]) {
        if (typeof v[key] !== "string" || v[key] === "") fail(`config: vehicles[${index}].${key} must be a non-empty string`);
    }
    for (const key of ["x", "y"]) {
        if (typeof v[key] !== "number") fail(`config: vehicles[${index}].${key} must be a number`);
    }
    const agvId = { manufacturer: v.manufacturer, serialNumber: v.serialNumber };
    const clientOptions = {
        interfaceName: config.interfaceName || "uagv",
        vdaVersion: VDA_VERSION,
        transport: {
            brokerUrl,
            ...(v.username !== undefined ? { username: v.username } : {}),
            ...(v.password !== undefined ? { password: v.password } : {}),
            ...(tlsOptions ? { tlsOptions } : {}),
        },
    };
    const controllerOptions = {
        agvAdapterType: lib.VirtualAgvAdapter,
        ...(config.stateIntervalMs !== undefined ? { publishStateInterval: config.stateIntervalMs } : {}),
        ...(config.visualizationIntervalMs !== undefined ? { publishVisualizationInterval: config.visualizationIntervalMs } : {}),
    };
    const adapterOptions = {
        initialPosition: { mapId: v.mapId, x: v.x, y: v.y, theta: v.theta ?? 0, lastNodeId: v.lastNodeId ?? "" },
        ...(config.speed !== undefined ? { vehicleSpeed: config.speed } : {}),
        ...(config.timeLapse !== undefined ? { timeLapse: config.timeLapse } : {}),
        ...(config.battery !== undefined ? { initialBatteryCharge: config.battery } : {}),
    };
    const controller = new lib.AgvController(agvId, clientOptions, controllerOptions, adapterOptions);

    let firstState;
    const firstStatePublished = new Promise(resolve => { firstState = resolve; });

    // Tap the MQTT client the library creates: everything it publishes and
    // everything it receives, exactly as on the wire.
    const connect = controller._connect.bind(controller);
    controller._connect = async () => {
        await connect();
        const mqtt = controller._mqtt;
        const publish = mqtt.publish.bind(mqtt);
        mqtt.publish = (mqttTopic, payload, ...rest) => {
            record(controller, "out", mqttTopic, payload);
            if (mqttTopic.endsWith("/state")) firstState();
            return publish(mqttTopic, payload, ...rest);
        };
        mqtt.prependListener("message", (mqttTopic, payload) => record(controller, "in", mqttTopic, payload));
    };
    // An outbound object that fails the library's validation never reaches MQTT.
    const publishTopic = controller.publishTopic.bind(controller);
    controller.publishTopic = (topic, subject, object, options) => {
        try {
            return publishTopic(topic, subject, object, options);
        } catch (error) {
            logLine({ dir: "out", serial: agvId.serialNumber, topic, invalid: error.message, message: object });
            throw error;
        }
    };

    // VirtualAgvAdapter.attach() (run by start()) sets the factsheet to {}.
    const started = controller.start().then(() => {
        if (config.factsheet !== undefined) controller.updateFactsheet(config.factsheet);
        return firstStatePublished;
    });
    return { controller, started };
}

// The library calls some async publishers without awaiting them (for example
// the state after an event): a rejection there must not end the fleet.
process.on("unhandledRejection", error => {
    process.stderr.write(`fleet.js: unhandled rejection: ${error && error.stack || error}\n`);
});

const vehicles = config.vehicles.map(startVehicle);
let stopping = false;

async function shutdown(why) {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`fleet.js: stopping (${why})\n`);
    const stops = vehicles.map(({ controller }) => controller.stop().catch(error => {
        process.stderr.write(`fleet.js: stop ${controller.agvId.serialNumber}: ${error.message}\n`);
    }));
    const timeout = new Promise(resolve => setTimeout(resolve, 5000).unref());
    await Promise.race([Promise.all(stops), timeout]);
    fs.closeSync(logFd);
    process.exit(0);
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
try {
    const stdin = fs.fstatSync(0);
    if (stdin.isFIFO() || stdin.isSocket()) {
        process.stdin.on("end", () => shutdown("stdin closed"));
        process.stdin.on("error", () => shutdown("stdin error"));
        process.stdin.resume();
    }
} catch {
    // no stdin at all: signals only
}

const readyTimeout = setTimeout(() => fail("vehicles not ready within 30 s"), 30000);
Promise.all(vehicles.map(v => v.started)).then(() => {
    clearTimeout(readyTimeout);
    process.stdout.write(`READY ${vehicles.length}\n`);
}, error => fail(`cannot start vehicles on ${brokerUrl}: ${error && error.message || error}`));
