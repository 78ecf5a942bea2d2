export { createLogger, type Logger } from "./logger.js";
export { connectNats, natsAuthOf, readCredentials, type NatsConnection } from "./connect.js";
export { serve, call, respond, validate, transportError, describeZodError } from "./rpc.js";
export { publishEvent } from "./events.js";
export { onShutdown, assert } from "./lifecycle.js";
export { registerService, serviceOf, packageVersion, SERVICE_NAMES, type WoodsService, type ServiceRegistration } from "./services.js";
