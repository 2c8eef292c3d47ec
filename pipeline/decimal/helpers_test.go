package decimal_test

import (
	"reflect"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

var (
	mapStringAny = reflect.TypeFor[map[string]any]()
	jsonValue    = reflect.TypeFor[*structpb.Value]()
)

func protojsonMarshal(v any) ([]byte, error) {
	return protojson.MarshalOptions{}.Marshal(v.(proto.Message))
}
