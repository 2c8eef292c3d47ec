// Package config loads cdcflow's configuration: one YAML file (walked
// strictly with internal/strictyaml), CDCFLOW_* environment variables over
// it (and CDCFLOW_*_FILE for values kept in files, such as secrets), the
// defaults, and validation that names each bad key with the file line or the
// variable that set it.
//
// Each section (source, capture, mapping, kafka, backpressure, views,
// metrics, log) is a struct in its own file, together with the function that
// turns it into the configuration of the component that uses it:
// [Config.ReplicationConfig], [KafkaConfig.PublisherConfig],
// [KafkaConfig.ConsumerOpts], [ViewsRedisConfig.Client],
// [MappingConfig.MapperOptions], [LoadMappingFile] and [LogConfig.Logger].
// Defaults come from the components themselves (replication, kafka,
// redisview, backpressure), so they are written once.
//
// Only cmd/cdcflow uses this package; it reads no flags itself.
package config
