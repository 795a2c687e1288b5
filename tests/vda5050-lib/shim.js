"use strict";
/*
 * ============================================================================
 *  SHIM for vda-5050-lib 1.4.0 — patches exactly two library bugs at runtime.
 * ============================================================================
 *
 * Nothing in node_modules is edited: this file replaces two prototype methods
 * when it is required (require it before creating any AgvController). Each
 * replacement translates the VDA 5050 2.0 field name into the one the library
 * reads and then calls the library's own method, so all other behaviour stays
 * the library's.
 *
 * Bug 1 — instantActions payload key.
 *   VDA 5050 2.0.0, topic instantActions (official instantActions.schema, a copy
 *   in shared/vda5050/2.0.0/): the message carries its actions in the required
 *   array `actions`. The library still expects the 1.1 name `instantActions`:
 *     - common/vda-5050-validators-2.0.js:1317-1334 (validateInstantActions):
 *       `required` `instantActions` → a 2.0 message fails validation and is
 *       reported as a validationError instead of being executed;
 *     - controller/agv-controller.js:1081 `actions.instantActions.filter(...)`.
 *   Patch: AgvController.prototype._processInstantActions gets a message whose
 *   `actions` is renamed to `instantActions` (only when `actions` is an array
 *   and `instantActions` is absent).
 *
 * Bug 2 — nodePosition.allowedDeviationXY.
 *   VDA 5050 2.0.0, topic order, node.nodePosition (official order.schema, a
 *   copy in shared/vda5050/2.0.0/): the field is `allowedDeviationXY` (capital
 *   Y). The library reads `allowedDeviationXy`:
 *     - adapter/virtual-agv-adapter.js:130 (destructuring) and :136-138 (use,
 *       and the error reference key "nodePosition.allowedDeviationXy"),
 *   so a 2.0 value is ignored and agvNormalDeviationXyTolerance (0.5 m) is used.
 *   Patch: VirtualAgvAdapter.prototype.isNodeWithinDeviationRange sees a node
 *   copy whose nodePosition also carries `allowedDeviationXy` = the 2.0 value,
 *   and its error reference key is reported with the 2.0 spelling.
 */
const lib = require("vda-5050-lib");

const MARK = Symbol.for("tote.vda5050lib.shim");

/** A VDA 5050 2.0 instantActions message as the library reads it (bug 1). */
function instantActionsForLibrary(msg) {
    if (lib.isPlainObject(msg) && Array.isArray(msg.actions) && msg.instantActions === undefined) {
        const { actions, ...rest } = msg;
        return { ...rest, instantActions: actions };
    }
    return msg;
}

/** A VDA 5050 2.0 order node as the library reads it (bug 2). */
function nodeForLibrary(node) {
    const p = node && node.nodePosition;
    if (p && p.allowedDeviationXY !== undefined && p.allowedDeviationXy === undefined) {
        return { ...node, nodePosition: { ...p, allowedDeviationXy: p.allowedDeviationXY } };
    }
    return node;
}

if (!lib.AgvController.prototype[MARK]) {
    lib.AgvController.prototype[MARK] = true;

    // Bug 1 (VDA 5050 2.0: instantActions.actions).
    const processInstantActions = lib.AgvController.prototype._processInstantActions;
    if (typeof processInstantActions !== "function") {
        throw new Error("vda-5050-lib shim: AgvController.prototype._processInstantActions not found (library changed?)");
    }
    lib.AgvController.prototype._processInstantActions = function (actions) {
        return processInstantActions.call(this, instantActionsForLibrary(actions));
    };

    // Bug 2 (VDA 5050 2.0: nodePosition.allowedDeviationXY).
    const isNodeWithinDeviationRange = lib.VirtualAgvAdapter.prototype.isNodeWithinDeviationRange;
    if (typeof isNodeWithinDeviationRange !== "function") {
        throw new Error("vda-5050-lib shim: VirtualAgvAdapter.prototype.isNodeWithinDeviationRange not found (library changed?)");
    }
    lib.VirtualAgvAdapter.prototype.isNodeWithinDeviationRange = function (node) {
        const refs = isNodeWithinDeviationRange.call(this, nodeForLibrary(node)) || [];
        return refs.map(r => r.referenceKey === "nodePosition.allowedDeviationXy"
            ? { ...r, referenceKey: "nodePosition.allowedDeviationXY" } : r);
    };
}

module.exports = { lib, instantActionsForLibrary, nodeForLibrary };
